package prose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus is the shared set of real vendor documents (see its README).
var corpus = filepath.Join("..", "..", "..", "shared", "corpus")

func readCorpus(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpus, name))
	if os.IsNotExist(err) {
		t.Skipf("corpus not present: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCorpusRouting: the real OpenAPI documents sniff as OpenAPI, so the
// CLI sends them to the OpenAPI loader, and Parse refuses them by name.
func TestCorpusRouting(t *testing.T) {
	for _, name := range []string{
		"okta/management.2024.09.2.yaml",
		"pagerduty/openapiv3.2024-01-31.json",
		"digitalocean/2024-03-18/specification/DigitalOcean-public.v2.yaml",
	} {
		data := readCorpus(t, name)
		if got := Sniff(data); got != FormatOpenAPI {
			t.Errorf("%s: Sniff = %q", name, got)
		}
		if _, err := Parse(name, data); err == nil || !strings.Contains(err.Error(), "OpenAPI document") {
			t.Errorf("%s: Parse error %v", name, err)
		}
	}
}

// TestCorpusProse reads real vendor prose: the introduction DigitalOcean
// publishes inside its OpenAPI description (a YAML block of markdown).
func TestCorpusProse(t *testing.T) {
	data := readCorpus(t, "digitalocean/2024-03-18/specification/description.yml")
	var md []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "introduction: |"):
			in = true
		case in && l != "" && !strings.HasPrefix(l, "  "):
			in = false
		case in:
			md = append(md, strings.TrimPrefix(l, "  "))
		}
	}
	d, err := Parse("digitalocean-intro.md", []byte(strings.Join(md, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Sections) != 22 || d.Title != "Introduction" {
		t.Errorf("%d sections, title %q", len(d.Sections), d.Title)
	}
	diff(t, "endpoints", endpointLines(d), []string{
		"GET /v2/droplets/{DROPLET_ID} @responses:84 0.60",
		"POST /v2/domains @pass-parameters-as-a-json-object:365 0.85 host=https://api.digitalocean.com",
		"GET /v2/images @pass-filter-parameters-as-a-query-string:374 0.85 host=https://api.digitalocean.com",
	})
	diff(t, "mentions", mentionLines(d), []string{
		"auth: bearer \"Bearer\" [Authorization] @pass-parameters-as-a-json-object:365 0.90",
		"paging: page_number \"per_page\" [per_page] @links-pagination:156 0.80",
		"paging: next_url \"next\" [next] @sample-links-object:183 0.80",
		"paging: page_number \"page\" [page] @sample-links-object:182 0.80",
		"rate: rate \"5000/hour\" [] @rate-limit:194 0.60",
		"rate: rate \"250/minute\" [] @rate-limit:195 0.60",
		"rate: rate_limit_headers \"ratelimit-limit, ratelimit-remaining, rateLimit-reset\" [ratelimit-limit,ratelimit-remaining,rateLimit-reset] @sample-rate-limit-headers:254 0.90",
		"rate: retry_after \"Retry-After\" [Retry-After] @sample-rate-limit-headers-when-burst-limit-is-reached:267 0.90",
		"server: host \"https://api.digitalocean.com\" [] @pass-parameters-as-a-json-object:368 0.70",
	})
	hits := d.Search("pagination per_page", 3)
	if len(hits) == 0 || hits[0].Section != "links-pagination" {
		t.Errorf("search: %+v", hits)
	}
}

package sandbox

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// corpusPath finds a document of the shared corpus, or skips.
func corpusPath(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpus", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpus document %s not available: %v", rel, err)
	}
	return p
}

func corpusPathB(b *testing.B, rel string) string {
	b.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpus", rel)
	if _, err := os.Stat(p); err != nil {
		b.Skipf("corpus document %s not available: %v", rel, err)
	}
	return p
}

// The PagerDuty 2025-03-24 document served: GET /extensions with the
// synthetic credential returns records in the extensions envelope.
func TestCorpusPagerDutyExtensions(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 2.7 MB document")
	}
	s, err := apisurface.Load(t.Context(), corpusPath(t, "pagerduty/openapiv3.2025-03-24.json"), apisurface.Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sb := newSandbox(t, s, Options{Seed: 1})
	i := slices.IndexFunc(sb.Operations(), func(o Operation) bool { return o.Path == "/extensions" })
	if i < 0 {
		t.Fatal("GET /extensions is not served")
	}
	o := sb.Operations()[i]
	if o.Role != RoleList {
		t.Skipf("/extensions is served as %s: the loader does not infer its list traits yet", o.Role)
	}
	c := sb.Credentials()
	if len(c) == 0 {
		t.Fatal("no synthetic credentials")
	}
	resp := do(t, sb.Handler(), testHost+sb.BasePath()+"/extensions", &c[0])
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /extensions: %d %s", resp.StatusCode, b)
	}
	body, ok := decode(t, b).(map[string]any)
	if !ok {
		t.Fatalf("not an object: %s", b)
	}
	recs, ok := body["extensions"].([]any)
	if !ok || len(recs) == 0 {
		t.Fatalf("no records in the extensions envelope: %s", b)
	}
	t.Logf("paging %s, records %s, kind %s; first record: %v", o.Paging, o.RecordsPath, o.Kind, recs[0])
	if resp := do(t, sb.Handler(), testHost+sb.BasePath()+"/extensions", nil); resp.StatusCode != 401 {
		t.Errorf("without the credential: %d", resp.StatusCode)
	}
}

// Every GET operation of the three corpus documents is served with bodies
// that conform to its response schema: top-level lists, a child list per
// parent template, items and objects. Operations with required query
// parameters answer 400, as they should without them.
func TestCorpusConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("loads three large documents")
	}
	for _, doc := range []string{
		"pagerduty/openapiv3.2024-01-31.json",
		"okta/management.2024.09.2.yaml",
		"digitalocean/2024-03-18/specification/DigitalOcean-public.v2.yaml",
	} {
		t.Run(doc, func(t *testing.T) {
			s, err := apisurface.Load(t.Context(), corpusPath(t, doc), apisurface.Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			sb := newSandbox(t, s, Options{Seed: 1})
			creds := map[string]Credential{}
			for _, c := range sb.Credentials() {
				creds[c.Scheme] = c
			}
			served, checked := 0, 0
			for _, rt := range sb.routes {
				path, ok := sb.concretePath(rt)
				if !ok {
					continue // a parent with no records: nothing to ask for
				}
				served++
				var c *Credential
				if len(rt.security) > 0 && len(rt.security[0].Schemes) > 0 {
					if x, ok := creds[rt.security[0].Schemes[0].Scheme]; ok {
						c = &x
					}
				}
				resp := do(t, sb.Handler(), testHost+sb.BasePath()+path, c)
				b := readAll(t, resp)
				if resp.StatusCode == 400 && len(rt.required) > 0 {
					continue
				}
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					t.Errorf("GET %s (%s): %d %s", path, rt.op.Path, resp.StatusCode, b)
					continue
				}
				if errs := validate(rt.op.Response, decode(t, b)); len(errs) > 0 {
					t.Errorf("GET %s: %d violations, first %v", path, len(errs), errs[:min(3, len(errs))])
				}
				checked++
			}
			t.Logf("%d GET operations, %d requested, %d bodies checked", len(sb.routes), served, checked)
			if checked < len(sb.routes)/2 {
				t.Errorf("only %d of %d operations checked", checked, len(sb.routes))
			}
		})
	}
}

// concretePath fills a route's path parameters: bound ones with the first
// existing id of their list, free ones with a placeholder.
func (sb *Sandbox) concretePath(rt *route) (string, bool) {
	vals := map[int]string{}
	scope := ""
	for _, b := range rt.binds {
		ids := sb.ids(b.list, scope)
		if len(ids) == 0 {
			return "", false
		}
		vals[b.seg] = ids[0].s
		scope = joinScope(scope, ids[0].s)
	}
	var parts []string
	for i, sg := range rt.segs {
		switch v, ok := vals[i]; {
		case sg.param == "":
			parts = append(parts, sg.lit)
		case ok:
			parts = append(parts, sg.prefix+url.PathEscape(v)+sg.suffix)
		default:
			parts = append(parts, sg.prefix+"x1"+sg.suffix)
		}
	}
	return "/" + strings.Join(parts, "/"), true
}

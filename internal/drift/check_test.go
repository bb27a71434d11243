package drift

import (
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

func surfaceLimit(n int64) apisurface.Options { return apisurface.Options{MaxBytes: n} }

// pinAndSpec pins doc and returns the spec of spec name with its source
// doc pinned to doc's digest and located at location.
func pinAndSpec(t *testing.T, db *sql.DB, spec string, doc []byte, location string) []byte {
	t.Helper()
	if _, _, err := Pin(t.Context(), db, location, doc, time.Now()); err != nil {
		t.Fatal(err)
	}
	return withSource(t, readFile(t, "testdata/"+spec+".integration.yaml"), location, Digest(doc))
}

// renamed is synthetic.old.yaml with the Key's name field, which the
// synthetic spec maps strictly (name: r.name), renamed to label.
func renamed(t *testing.T) []byte {
	t.Helper()
	s := string(readFile(t, "testdata/synthetic.old.yaml"))
	r := strings.NewReplacer("required: [id, name]", "required: [id, label]",
		"        name:\n          type: string\n          description: The key's name.", "        label:\n          type: string\n          description: The key's name.")
	out := r.Replace(s)
	if out == s || strings.Contains(out, "required: [id, name]") {
		t.Fatal("the fixture no longer has the Key.name field this test renames")
	}
	return []byte(out)
}

func TestCheckUnchangedFastPath(t *testing.T) {
	eachDB(t, func(t *testing.T, db *sql.DB, _ string) {
		old := readFile(t, "testdata/synthetic.old.yaml")
		loc := writeFile(t, filepath.Join(t.TempDir(), "vendor.yaml"), old)
		spec := pinAndSpec(t, db, "synthetic", old, loc)
		r, err := CheckSpec(t.Context(), db, spec, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Changed || r.PinnedSHA256 != r.CurrentSHA256 || r.PinnedSHA256 != Digest(old) || r.HasBreaking() || r.NeedsRebuild() {
			t.Errorf("unchanged: %+v", r)
		}
		// Nothing was compared: no change of any kind, and no count of
		// what-changed's (which only a comparison fills in).
		if r.Report == nil || r.Report.Total != 0 || len(r.Report.NonBreaking)+len(r.Report.Breaking)+len(r.Report.Deprecations)+len(r.Report.Coverage) != 0 ||
			!strings.Contains(r.Report.Summary, "unchanged") {
			t.Errorf("report: %+v", r.Report)
		}
	})
}

func TestCheckRenamedField(t *testing.T) {
	eachDB(t, func(t *testing.T, db *sql.DB, _ string) {
		old := readFile(t, "testdata/synthetic.old.yaml")
		loc := filepath.Join(t.TempDir(), "vendor.yaml")
		spec := pinAndSpec(t, db, "synthetic", old, loc)
		// The vendor renames the field after the release.
		writeFile(t, loc, renamed(t))
		r, err := CheckSpec(t.Context(), db, spec, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Changed || r.CurrentSHA256 != Digest(renamed(t)) || !r.HasBreaking() || !r.NeedsRebuild() {
			t.Fatalf("check: %+v", r)
		}
		b := find(r.Report.Breaking, "keys", "response.body.data.[].name")
		if len(r.Report.Breaking) != 1 || len(b) != 1 || !strings.Contains(b[0].What, "removed") {
			t.Errorf("breaking = %+v, want the renamed name field", r.Report.Breaking)
		}
		if len(find(r.Report.NonBreaking, "keys", "response.body.data.[].label")) != 1 {
			t.Errorf("non-breaking = %+v, want the new label field", r.Report.NonBreaking)
		}
		// The report names the doc, never the temporary copies compared.
		if r.Report.New.Location != loc || r.Report.Old.Location != "pinned copy of "+loc {
			t.Errorf("locations %q, %q", r.Report.Old.Location, r.Report.New.Location)
		}
	})
}

// TestCheckCorpus pins the specs built from the older doc of each corpus
// pair with that doc's bytes, then finds the newer doc at the recorded
// location: what TestOktaDrift and TestPagerDutyDrift find (see
// docs/benchmarks.md, "Drift"), read from the database baseline. For
// PagerDuty, the four non-breaking changes; for Okta, nothing.
func TestCheckCorpus(t *testing.T) {
	for _, c := range []struct {
		spec, old, new, loc string
		want                []string
		total, ignored      int
	}{
		{"pagerduty", pagerdutyOld, pagerdutyNew, "/work/shared/corpus/pagerduty/openapiv3.2024-01-31.json", []string{
			"non-breaking services_integrations parameter.name",
			"non-breaking status_pages parameter.X-EARLY-ACCESS",
			"non-breaking status_pages_subscriptions parameter.X-EARLY-ACCESS",
			"non-breaking webhook_subscriptions operation.description",
		}, 718, 714},
		{"okta", oktaOld, oktaNew, "/work/shared/corpus/okta/management.2024.09.2.yaml", nil, 7, 7},
	} {
		t.Run(c.spec, func(t *testing.T) {
			db := sqliteDB(t)
			old := readFile(t, c.old)
			newAbs, err := filepath.Abs(c.new)
			if err != nil {
				t.Fatal(err)
			}
			spec := readFile(t, "testdata/"+c.spec+".integration.yaml")
			if !strings.Contains(string(spec), "location: "+c.loc) || !strings.Contains(string(spec), Digest(old)) {
				t.Fatalf("testdata/%s.integration.yaml no longer records %s", c.spec, c.old)
			}
			spec = []byte(strings.Replace(string(spec), "location: "+c.loc, "location: "+newAbs, 1))
			if _, _, err := Pin(t.Context(), db, c.old, old, time.Now()); err != nil {
				t.Fatal(err)
			}
			r, err := CheckSpec(t.Context(), db, spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s in %s", r.Report.Summary, r.Report.Elapsed)
			if !r.Changed || r.HasBreaking() || r.NeedsRebuild() || r.PinnedSHA256 != Digest(old) || len(r.Report.Unmatched) != 0 || len(r.Notes) != 0 {
				t.Errorf("check: %+v", r)
			}
			got := keyed(r.Report)
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("changes kept = %v, want %v", got, c.want)
			}
			if r.Report.Total != c.total || r.Report.Ignored != c.ignored {
				t.Errorf("total %d, ignored %d; want %d of %d ignored", r.Report.Total, r.Report.Ignored, c.ignored, c.total)
			}
		})
	}
}

// vendor is a loopback HTTP server standing in for the vendor's doc URL.
type vendor struct {
	mu     sync.Mutex
	doc    []byte
	status int
	hits   int
}

func (v *vendor) set(doc []byte, status int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.doc, v.status = doc, status
}

func (v *vendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hits++
	if v.status != http.StatusOK {
		http.Error(w, "down for maintenance", v.status)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(v.doc)
}

func TestCheckOverHTTP(t *testing.T) {
	db := sqliteDB(t)
	old := readFile(t, "testdata/synthetic.old.yaml")
	v := &vendor{doc: old, status: http.StatusOK}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	loc := srv.URL + "/openapi.yaml?token=s3cr3t-query"
	spec := pinAndSpec(t, db, "synthetic", old, loc)

	r, err := CheckSpec(t.Context(), db, spec, Options{})
	if err != nil || r.Changed {
		t.Fatalf("unchanged over HTTP: %+v, %v", r, err)
	}
	if strings.Contains(r.Location, "s3cr3t") {
		t.Errorf("location shows the query: %s", r.Location)
	}

	v.set(renamed(t), http.StatusOK)
	hits := v.hits
	r, err = CheckSpec(t.Context(), db, spec, Options{})
	if err != nil || !r.Changed || !r.HasBreaking() {
		t.Fatalf("drifted over HTTP: %+v, %v", r, err)
	}
	// Fetched once: the comparison reads the bytes that were hashed.
	if v.hits-hits != 1 {
		t.Errorf("the doc was fetched %d times", v.hits-hits)
	}

	v.set(nil, http.StatusServiceUnavailable)
	_, err = CheckSpec(t.Context(), db, spec, Options{})
	if !errors.Is(err, ErrDocUnreadable) || !strings.Contains(err.Error(), srv.URL+"/openapi.yaml") || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("vendor down: %v", err)
	}
	// A hostile server's oversized answer is cut off, not read whole.
	v.set(append(renamed(t), strings.Repeat("#", 4096)...), http.StatusOK)
	if _, err := CheckSpec(t.Context(), db, spec, Options{Surface: surfaceLimit(2048)}); !errors.Is(err, ErrDocUnreadable) || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized doc: %v", err)
	}
}

func TestCheckNoPinnedDoc(t *testing.T) {
	db := sqliteDB(t)
	ctx := t.Context()
	// A spec without a source doc: nothing to check against.
	_, err := CheckSpec(ctx, db, readFile(t, "testdata/synthetic.integration.yaml"), Options{})
	if !errors.Is(err, ErrNoPinnedDoc) || !strings.Contains(err.Error(), "rebuild from a doc to enable drift checks") {
		t.Errorf("no source doc: %v", err)
	}
	// A source doc that was never pinned.
	old := readFile(t, "testdata/synthetic.old.yaml")
	loc := writeFile(t, filepath.Join(t.TempDir(), "vendor.yaml"), old)
	spec := withSource(t, readFile(t, "testdata/synthetic.integration.yaml"), loc, Digest(old))
	if _, err := CheckSpec(ctx, db, spec, Options{}); !errors.Is(err, ErrNoPinnedDoc) || !strings.Contains(err.Error(), "never pinned") {
		t.Errorf("unpinned: %v", err)
	}
}

func TestCheckMultiFileNote(t *testing.T) {
	db := sqliteDB(t)
	multi := "../apisurface/testdata/load/multi/openapi.yaml"
	doc := readFile(t, multi)
	abs, err := filepath.Abs(multi)
	if err != nil {
		t.Fatal(err)
	}
	spec := pinAndSpec(t, db, "synthetic", doc, abs)
	r, err := CheckSpec(t.Context(), db, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "schemas/user.yaml, paths/teams.yaml") || !strings.Contains(r.Notes[0], "only the root document is pinned") {
		t.Errorf("notes = %q", r.Notes)
	}
}

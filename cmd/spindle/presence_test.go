package main

// Boundary 5 end to end: "could not see" is not "gone". A stream the
// vendor refuses (401/403/404) keeps its entities, marked unverified; a
// stream that fails keeps them present with their old last_seen; and the
// run exits 3 so nobody mistakes it for a green sync.

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/demo"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// faultyVendor is the demo vendor with a switch that makes chosen streams'
// list endpoints answer an error status.
type faultyVendor struct {
	next http.Handler
	mu   sync.Mutex
	fail map[string]int // stream → status
}

func (f *faultyVendor) set(faults map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = maps.Clone(faults)
}

func streamOf(path string) string {
	rest, ok := strings.CutPrefix(path, demo.BasePath+"/")
	if !ok {
		return ""
	}
	switch parts := strings.Split(rest, "/"); {
	case rest == "users":
		return demo.StreamUsers
	case rest == "service_accounts":
		return demo.StreamServiceAccounts
	case len(parts) == 3 && parts[0] == "service_accounts" && parts[2] == "keys":
		return demo.StreamServiceAccountKeys
	case rest == "webhooks":
		return demo.StreamWebhooks
	}
	return ""
}

func (f *faultyVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status := f.fail[streamOf(r.URL.Path)]
	f.mu.Unlock()
	if status != 0 {
		writeJSON(w, status, map[string]string{"error": http.StatusText(status)})
		return
	}
	f.next.ServeHTTP(w, r)
}

type streamWant struct {
	outcome  store.Outcome
	presence store.Presence
}

func TestRefusedStreamKeepsEntitiesUnverified(t *testing.T) {
	cases := []struct {
		name   string
		faults map[string]int
		// want for the faulted streams (and their children); every other
		// stream must complete and advance last_seen.
		want     map[string]streamWant
		wantRun  string
		wantCode int
	}{
		{
			name:   "403 and 500 in one run",
			faults: map[string]int{demo.StreamWebhooks: 403, demo.StreamUsers: 500},
			want: map[string]streamWant{
				demo.StreamWebhooks: {store.Denied, store.Unverified},
				demo.StreamUsers:    {store.Failed, store.Present},
			},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name:    "401",
			faults:  map[string]int{demo.StreamWebhooks: 401},
			want:    map[string]streamWant{demo.StreamWebhooks: {store.Denied, store.Unverified}},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name:    "404",
			faults:  map[string]int{demo.StreamWebhooks: 404},
			want:    map[string]streamWant{demo.StreamWebhooks: {store.Denied, store.Unverified}},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name:    "500 alone",
			faults:  map[string]int{demo.StreamWebhooks: 500},
			want:    map[string]streamWant{demo.StreamWebhooks: {store.Failed, store.Present}},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name:    "403 on every fan-out child",
			faults:  map[string]int{demo.StreamServiceAccountKeys: 403},
			want:    map[string]streamWant{demo.StreamServiceAccountKeys: {store.Denied, store.Unverified}},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name:   "403 on a fan-out parent",
			faults: map[string]int{demo.StreamServiceAccounts: 403},
			want: map[string]streamWant{
				demo.StreamServiceAccounts: {store.Denied, store.Unverified},
				// The children never ran: what could not be seen above
				// cannot be verified below, so they are unverified too.
				demo.StreamServiceAccountKeys: {store.Denied, store.Unverified},
			},
			wantRun: store.RunPartial, wantCode: 3,
		},
		{
			name: "every stream refused",
			faults: map[string]int{demo.StreamUsers: 403, demo.StreamServiceAccounts: 403,
				demo.StreamWebhooks: 403},
			want: map[string]streamWant{
				demo.StreamUsers:              {store.Denied, store.Unverified},
				demo.StreamServiceAccounts:    {store.Denied, store.Unverified},
				demo.StreamServiceAccountKeys: {store.Denied, store.Unverified},
				demo.StreamWebhooks:           {store.Denied, store.Unverified},
			},
			wantRun: store.RunFailed, wantCode: 3,
		},
	}

	vendor, err := demo.NewHandler(demo.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	fv := &faultyVendor{next: vendor}
	srv := httptest.NewServer(fv)
	defer srv.Close()
	t.Setenv("ACME_CLOUD_TOKEN", vendor.Token())
	spec := writeFile(t, t.TempDir(), "acme.yaml", demo.Spec())
	counts := vendor.Counts()

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "x.db")
			run := func(want int) cliResult {
				t.Helper()
				return mustSpindle(t, want, "run", spec, "--base-url", srv.URL+demo.BasePath,
					"--credential-env", "ACME_CLOUD_TOKEN", "--db", db)
			}

			fv.set(nil)
			run(0)
			before, _ := inventory(t, db)
			first := byID(before)

			fv.set(c.faults)
			r := run(c.wantCode)
			got := summary(t, r.stdout)
			for _, s := range demo.Streams() {
				want := streamWant{store.Complete, store.Present}
				if w, ok := c.want[s]; ok {
					want = w
				}
				if got[s] != string(want.outcome) {
					t.Errorf("stream %s: outcome %q, want %q\n%s", s, got[s], want.outcome, r)
				}
			}
			if !strings.Contains(r.stderr, "nothing known was deleted") {
				t.Errorf("stderr does not say the run was degraded: %s", r)
			}

			after, _ := inventory(t, db)
			if len(after) != len(before) {
				t.Errorf("inventory went from %d to %d entities", len(before), len(after))
			}
			perPresence := map[store.Presence]int{}
			for _, e := range after {
				perPresence[e.Presence]++
				b, ok := first[e.ID]
				if !ok {
					t.Errorf("new entity %s %s after the degraded run", e.Kind, e.ExternalID)
					continue
				}
				want := streamWant{store.Complete, store.Present}
				if w, ok := c.want[e.Stream]; ok {
					want = w
				}
				if e.Presence != want.presence {
					t.Errorf("%s %s (stream %s): presence %q, want %q", e.Kind, e.ExternalID, e.Stream, e.Presence, want.presence)
				}
				if !sameTime(b.FirstSeen, e.FirstSeen) {
					t.Errorf("%s %s: first_seen changed %s → %s", e.Kind, e.ExternalID, tstr(b.FirstSeen), tstr(e.FirstSeen))
				}
				advanced := b.LastSeen != nil && e.LastSeen != nil && e.LastSeen.After(*b.LastSeen)
				switch {
				case want.outcome == store.Complete && !advanced:
					t.Errorf("%s %s (stream complete): last_seen did not advance (%s, %s)", e.Kind, e.ExternalID, tstr(b.LastSeen), tstr(e.LastSeen))
				case want.outcome != store.Complete && !sameTime(b.LastSeen, e.LastSeen):
					t.Errorf("%s %s (stream %s): last_seen moved %s → %s though the stream saw nothing", e.Kind, e.ExternalID, want.outcome, tstr(b.LastSeen), tstr(e.LastSeen))
				}
				switch {
				case want.presence == store.Unverified && !e.PresenceSince.After(b.PresenceSince):
					t.Errorf("%s %s: presence_since %v not moved to the refusing run", e.Kind, e.ExternalID, e.PresenceSince)
				case want.presence == store.Present && !e.PresenceSince.Equal(b.PresenceSince):
					t.Errorf("%s %s: still present, yet presence_since moved %v → %v", e.Kind, e.ExternalID, b.PresenceSince, e.PresenceSince)
				}
			}
			if perPresence[store.Gone] != 0 {
				t.Errorf("%d entities marked gone by a degraded run", perPresence[store.Gone])
			}
			wantUnverified := 0
			for s, w := range c.want {
				if w.presence == store.Unverified {
					wantUnverified += counts[s]
				}
			}
			unv, _ := inventory(t, db, "--presence", "unverified")
			if len(unv) != wantUnverified {
				t.Errorf("inventory list --presence unverified: %d entities, want %d", len(unv), wantUnverified)
			}

			rs := runs(t, db)
			if len(rs) != 2 {
				t.Fatalf("%d runs recorded, want 2", len(rs))
			}
			if c.wantRun != "" && rs[0].Status != c.wantRun {
				t.Errorf("degraded run recorded as %q, want %q", rs[0].Status, c.wantRun)
			}
			for _, sr := range rs[0].Streams {
				if w, ok := c.want[sr.Stream]; ok && w.outcome != store.Partial && len(sr.Errors) == 0 {
					t.Errorf("stream %s (%s) recorded no error", sr.Stream, sr.Outcome)
				}
			}

			// The vendor recovers: everything is present again.
			fv.set(nil)
			run(0)
			healed, _ := inventory(t, db)
			for _, e := range healed {
				if e.Presence != store.Present {
					t.Errorf("after a clean run %s %s is %q", e.Kind, e.ExternalID, e.Presence)
				}
			}
			if len(healed) != len(before) {
				t.Errorf("after a clean run: %d entities, want %d", len(healed), len(before))
			}
		})
	}
}

// A stream that stops being able to see its list must never read as an
// empty, complete sync (boundary 5): a 200 whose records path is gone
// fails the stream, and nothing is marked gone.
func TestChangedEnvelopeFailsLoudly(t *testing.T) {
	vendor, err := demo.NewHandler(demo.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	broken := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := broken
		mu.Unlock()
		if b && streamOf(r.URL.Path) == demo.StreamWebhooks {
			writeJSON(w, http.StatusOK, map[string]any{"hooks_v2": []any{}}) // renamed envelope
			return
		}
		vendor.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("ACME_CLOUD_TOKEN", vendor.Token())
	dir := t.TempDir()
	spec := writeFile(t, dir, "acme.yaml", demo.Spec())
	db := filepath.Join(dir, "x.db")
	args := []string{"run", spec, "--base-url", srv.URL + demo.BasePath, "--credential-env", "ACME_CLOUD_TOKEN", "--db", db}

	mustSpindle(t, 0, args...)
	mu.Lock()
	broken = true
	mu.Unlock()
	r := mustSpindle(t, 3, args...)
	if got := summary(t, r.stdout)[demo.StreamWebhooks]; got != string(store.Failed) {
		t.Errorf("webhooks: outcome %q, want failed\n%s", got, r)
	}
	if !strings.Contains(r.stdout, "webhooks") || !strings.Contains(r.stdout, "records path") {
		t.Errorf("the report does not explain the missing records path: %s", r)
	}
	ents, _ := inventory(t, db, "--kind", string(nhi.Webhook))
	if len(ents) != vendor.Counts()[demo.StreamWebhooks] {
		t.Errorf("%d webhooks kept, want %d", len(ents), vendor.Counts()[demo.StreamWebhooks])
	}
	var presences []store.Presence
	for _, e := range ents {
		if !slices.Contains(presences, e.Presence) {
			presences = append(presences, e.Presence)
		}
	}
	if !slices.Equal(presences, []store.Presence{store.Present}) {
		t.Errorf("webhook presences after a failed stream: %v, want [present]", presences)
	}
}

package sandbox

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	for in, want := range map[string][]Fault{
		"": nil,
		"429,5xx:3,slow:200ms,truncate,drift:rename": {
			{Kind: "429", Status: 429, Every: 3, RetryAfter: time.Second},
			{Kind: "5xx", Status: 503, Burst: 3},
			{Kind: "slow", Delay: 200 * time.Millisecond, Every: 1},
			{Kind: "truncate", Every: 1},
			{Kind: "drift", Drift: "rename"},
		},
		"429:5:after=2s":      {{Kind: "429", Status: 429, Every: 5, RetryAfter: 2 * time.Second}},
		"429:burst=2":         {{Kind: "429", Status: 429, Burst: 2, RetryAfter: time.Second}},
		"5xx:burst=1:every=3": {{Kind: "5xx", Status: 503, Burst: 1, Every: 3}},
		"502:every=4@/users/{id}/keys": {
			{Kind: "502", Status: 502, Every: 4, Path: "/users/{id}/keys"}},
		"slow:1s:every=2, truncate:3": {
			{Kind: "slow", Delay: time.Second, Every: 2}, {Kind: "truncate", Every: 3}},
		"drift:rename=name>title@/apps,drift:drop=id,drift:type=count": {
			{Kind: "drift", Drift: "rename", Field: "name", To: "title", Path: "/apps"},
			{Kind: "drift", Drift: "drop", Field: "id"},
			{Kind: "drift", Drift: "type", Field: "count"}},
	} {
		got, err := ParseFaults(in)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseFaults(%q):\n got %+v\nwant %+v", in, got, want)
		}
		for _, f := range got {
			back, err := ParseFaults(f.String())
			if err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], f) {
				t.Errorf("%+v does not round-trip through %q: %+v %v", f, f.String(), back, err)
			}
		}
	}
	for _, bad := range []string{"404", "429:0", "429:x", "5xx:burst=-1", "600", "499", "slow:fast", "slow:10m",
		"slow:burst=2", "truncate:burst=1", "drift", "drift:shuffle", "drift:rename=a>", "429@users", "5xx:after=1s", "429:color=red"} {
		if f, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) = %+v, want an error", bad, f)
		}
	}
}

func TestFaultsRejectUnknownTargets(t *testing.T) {
	for _, s := range []string{"5xx@/nowhere", "drift:drop=nofield@/users", "drift:drop=nofield", "drift:rename@/me"} {
		fs, err := ParseFaults(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(acmeSurface(), Options{Faults: fs}); err == nil {
			t.Errorf("New with %q succeeded", s)
		}
	}
}

func faultSandbox(t *testing.T, spec string) (*Sandbox, *Credential) {
	t.Helper()
	fs, err := ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t, acmeSurface(), Options{Seed: 1, Faults: fs})
	return sb, cred(t, sb, "api_key")
}

func statuses(t *testing.T, sb *Sandbox, c *Credential, targets ...string) []int {
	t.Helper()
	var out []int
	for _, tg := range targets {
		resp := do(t, sb.Handler(), testHost+"/api/v1"+tg, c)
		readAll(t, resp)
		out = append(out, resp.StatusCode)
	}
	return out
}

func TestFaultRateLimit(t *testing.T) {
	sb, c := faultSandbox(t, "429:3:after=2s")
	got := statuses(t, sb, c, "/users", "/users", "/users", "/webhooks", "/me", "/apps")
	if want := []int{200, 200, 429, 200, 200, 429}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	resp := do(t, sb.Handler(), testHost+"/api/v1/users", c)
	resp = do(t, sb.Handler(), testHost+"/api/v1/users", c)
	resp = do(t, sb.Handler(), testHost+"/api/v1/users", c)
	b := readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if errs := validate(errorStyle()["429"], decode(t, b)); len(errs) > 0 {
		t.Errorf("429 body not in the vendor's style: %v", errs)
	}
	// Unauthenticated requests are refused before any fault.
	if got := statuses(t, sb, nil, "/users", "/users", "/users"); !reflect.DeepEqual(got, []int{401, 401, 401}) {
		t.Errorf("unauthenticated: %v", got)
	}
	if lg := sb.RequestLog(); lg[2].Fault != "429:every=3:after=2s" || lg[0].Fault != "" {
		t.Errorf("fault not logged: %+v", lg[2])
	}
}

// A burst fails each distinct URL's first attempts, so every page needs a
// retry, whatever the concurrency.
func TestFaultServerErrorBurst(t *testing.T) {
	sb, c := faultSandbox(t, "5xx:2,500:burst=1@/webhooks")
	got := statuses(t, sb, c, "/users", "/users", "/users", "/users?page=2", "/users?page=2", "/users?page=2", "/users")
	if want := []int{503, 503, 200, 503, 503, 200, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("users: %v, want %v", got, want)
	}
	got = statuses(t, sb, c, "/webhooks", "/webhooks", "/webhooks")
	if want := []int{503, 503, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("webhooks: %v, want %v (the first matching fault answers)", got, want)
	}
	// With every=N only every Nth distinct URL bursts.
	sb, c = faultSandbox(t, "5xx:burst=1:every=2")
	got = statuses(t, sb, c, "/users", "/users", "/users?page=2", "/webhooks", "/webhooks", "/me")
	if want := []int{503, 200, 200, 503, 200, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("sampled burst: %v, want %v", got, want)
	}
	sb, c = faultSandbox(t, "500:burst=1@/webhooks")
	if got := statuses(t, sb, c, "/webhooks", "/webhooks", "/users"); !reflect.DeepEqual(got, []int{500, 200, 200}) {
		t.Errorf("scoped fault: %v", got)
	}
}

func TestFaultSlow(t *testing.T) {
	sb, c := faultSandbox(t, "slow:80ms:every=2")
	var d []time.Duration
	for i := 0; i < 2; i++ {
		start := time.Now()
		statuses(t, sb, c, "/me")
		d = append(d, time.Since(start))
	}
	if d[0] >= 80*time.Millisecond || d[1] < 80*time.Millisecond {
		t.Errorf("durations %v: want only the second delayed by 80ms", d)
	}
	if lg := sb.RequestLog(); lg[1].Fault != "slow:80ms:every=2" || lg[1].Status != 200 {
		t.Errorf("log: %+v", lg[1])
	}
}

// A truncated body is a valid prefix, then the connection closes: the
// client sees an error, never a short but well-formed page.
func TestFaultTruncate(t *testing.T) {
	sb, c := faultSandbox(t, "truncate:2")
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	get := func() ([]byte, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/users", nil)
		c.Apply(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	full, err := get()
	if err != nil {
		t.Fatal(err)
	}
	cut, err := get()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated read: err %v, want unexpected EOF", err)
	}
	if len(cut) == 0 || len(cut) >= len(full) || !strings.HasPrefix(string(full), string(cut)) {
		t.Errorf("truncated body is not a proper prefix (%d of %d bytes)", len(cut), len(full))
	}
	if lg := sb.RequestLog(); lg[1].Fault != "truncate:every=2" {
		t.Errorf("log: %+v", lg[1])
	}
}

func TestFaultDrift(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		check func(t *testing.T, rec map[string]any)
		truth string
	}{
		{"drift:rename=label>title@/service_accounts/{id}/keys", func(t *testing.T, r map[string]any) {
			if _, ok := r["label"]; ok {
				t.Error("label still present")
			}
			if _, ok := r["title"].(string); !ok {
				t.Error("no title")
			}
		}, "rename label -> title"},
		{"drift:drop@/service_accounts/{id}/keys", func(t *testing.T, r map[string]any) {
			if _, ok := r["label"]; ok { // the first required non-id property
				t.Error("label not dropped")
			}
		}, "drop label"},
		{"drift:type=scopes", func(t *testing.T, r map[string]any) {
			if _, ok := r["scopes"].(map[string]any); !ok {
				t.Errorf("scopes is %T, want an object", r["scopes"])
			}
		}, "type scopes"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			sb, c := faultSandbox(t, tc.spec)
			tr := sb.Truth()
			keys, _ := tr.Operation("GET", "/service_accounts/{id}/keys")
			if len(keys.Drift) != 1 || keys.Drift[0] != tc.truth {
				t.Errorf("truth drift %v, want [%s]", keys.Drift, tc.truth)
			}
			var parent, key string
			for p, ks := range keys.Children {
				if len(ks) > 0 {
					parent, key = p, ks[0]
					break
				}
			}
			resp := do(t, sb.Handler(), testHost+"/api/v1/service_accounts/"+parent+"/keys", c)
			body := decode(t, readAll(t, resp)).(map[string]any)
			recs := body["keys"].([]any)
			for _, r := range recs {
				tc.check(t, r.(map[string]any))
			}
			// The item endpoint drifts the same way.
			item := decode(t, readAll(t, do(t, sb.Handler(), testHost+"/api/v1/service_accounts/"+parent+"/keys/"+key, c))).(map[string]any)
			tc.check(t, item)
			// Drift makes records fail their schema: loud for a validator.
			l := sb.lists[1]
			for _, x := range sb.lists {
				if x.route.op.Path == "/service_accounts/{id}/keys" {
					l = x
				}
			}
			if errs := validate(l.records, recs[0]); len(errs) == 0 && !strings.HasPrefix(tc.truth, "rename") {
				t.Errorf("a drifted record still conforms")
			}
			for _, e := range sb.RequestLog() { // the list and the item
				if !strings.Contains(e.Fault, "drift:") {
					t.Errorf("drift not logged: %+v", e)
				}
			}
		})
	}
}

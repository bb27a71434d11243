package main

// Boundary 4 end to end: for every auth type, `spindle run` authenticates
// against a loopback vendor with a credential from the environment, and
// the credential (in every form it travels in) never reaches stdout,
// stderr, the JSON Lines file or the SQLite file, even when the vendor
// echoes what it was sent.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spindlehq/spindle/internal/nhi"
)

const (
	credEnv      = "SPINDLE_E2E_CREDENTIAL"
	basicUser    = "svc-reader"
	oauthClient  = "spindle-client"
	secretMarker = "s3cr3t-VALUE" // every test secret starts with it
	tokenMarker  = "at-TOKEN-VAL" // every issued access token starts with it
)

// leakSpec is a one-stream spec; %s is the connection.auth block. Retries
// are on (so the retry log path runs with -v) but take a millisecond.
const leakSpec = `apiVersion: spindle/v1
kind: Integration
metadata:
  name: leakcheck
connection:
  base_url: https://api.leakcheck.example/v1
  auth:
%s
defaults:
  retry: {max_attempts: 2, on: [500], initial_interval: 1ms, max_interval: 1ms}
streams:
  - name: keys
    request: {method: GET, path: /keys}
    records: items
    emits: api_key
    map:
      external_id: r.id
      name: r.name
      attributes: '{"note": r.note}'
`

// authCase is one auth type: its spec block and how the vendor reads the
// credential off a request.
type authCase struct {
	name string
	auth string // YAML under connection.auth, indented four spaces
	// received returns the credential the request carries ("" if none):
	// the secret itself, or for oauth2 the access token.
	received func(r *http.Request) string
	// forms are encodings of the secret, beyond the standard ones, that
	// travel on the wire and must not leak either.
	forms func(secret string) []string
}

func cutPrefix(s, prefix string) string {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return ""
	}
	return v
}

var authCases = []authCase{
	{
		name: "api_key_header",
		auth: `    type: api_key
    in: header
    name: Authorization
    prefix: "SSWS "
    credential: leakcheck`,
		received: func(r *http.Request) string { return cutPrefix(r.Header.Get("Authorization"), "SSWS ") },
	},
	{
		name: "api_key_query",
		auth: `    type: api_key
    in: query
    name: apikey
    credential: leakcheck`,
		received: func(r *http.Request) string { return r.URL.Query().Get("apikey") },
	},
	{
		name: "bearer",
		auth: `    type: bearer
    credential: leakcheck`,
		received: func(r *http.Request) string { return cutPrefix(r.Header.Get("Authorization"), "Bearer ") },
	},
	{
		name: "basic",
		auth: `    type: basic
    username: ` + basicUser + `
    credential: leakcheck`,
		received: func(r *http.Request) string {
			u, p, ok := r.BasicAuth()
			if !ok || u != basicUser {
				return ""
			}
			return p
		},
		forms: func(secret string) []string {
			return []string{base64.StdEncoding.EncodeToString([]byte(basicUser + ":" + secret))}
		},
	},
	{
		name: "oauth2_client_credentials",
		auth: `    type: oauth2_client_credentials
    client_id: ` + oauthClient + `
    token_url: /oauth/token
    scopes: [keys.read]
    credential: leakcheck`,
		received: func(r *http.Request) string { return cutPrefix(r.Header.Get("Authorization"), "Bearer ") },
		forms: func(secret string) []string {
			return []string{
				base64.StdEncoding.EncodeToString([]byte(oauthClient + ":" + secret)),
				base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(oauthClient) + ":" + url.QueryEscape(secret))),
			}
		},
	},
}

// Vendor behaviours.
const (
	modeOK          = "ok"
	mode401         = "401"                   // the list refuses, echoing what it was sent
	mode500Auth     = "500-echo-auth"         // the list fails, echoing the Authorization header
	mode500Query    = "500-echo-query"        // the list fails, echoing the request URI (query string)
	mode500Cut      = "500-credential-at-200" // the credential straddles the report's 200-byte error snippet
	modeToken401    = "token-401-echo"        // oauth2 only: the token endpoint refuses, echoing the client's request
	modeRecordsEcho = "200-echo-in-records"   // the list succeeds, its records echoing the request
)

// leakVendor is the loopback vendor of the leak tests.
type leakVendor struct {
	t      *testing.T
	ac     authCase
	secret string
	token  string // the access token it issues (oauth2)
	mode   string

	listCalls, tokenCalls atomic.Int32
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (v *leakVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	echo := fmt.Sprintf("Authorization: %s; URI: %s; body: %s", r.Header.Get("Authorization"), r.RequestURI, body)
	switch r.URL.Path {
	case "/v1/oauth/token":
		v.tokenCalls.Add(1)
		v.serveToken(w, r, body, echo)
	case "/v1/keys":
		v.listCalls.Add(1)
		v.serveList(w, r, echo)
	default:
		v.t.Errorf("vendor: unexpected request %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (v *leakVendor) serveToken(w http.ResponseWriter, r *http.Request, body []byte, echo string) {
	if v.ac.name != "oauth2_client_credentials" {
		v.t.Errorf("vendor: token request for auth type %s", v.ac.name)
	}
	if v.mode == modeToken401 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_client", "error_description": "client authentication failed for " + echo})
		return
	}
	// The client authenticates in the header (form-encoded id and secret,
	// RFC 6749 2.3.1) or in the body.
	form, _ := url.ParseQuery(string(body))
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if r.Method != http.MethodPost || form.Get("grant_type") != "client_credentials" || id != oauthClient || secret != v.secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": v.token, "token_type": "bearer", "expires_in": 3600})
}

func (v *leakVendor) expected() string {
	if v.ac.name == "oauth2_client_credentials" {
		return v.token
	}
	return v.secret
}

func (v *leakVendor) serveList(w http.ResponseWriter, r *http.Request, echo string) {
	got := v.ac.received(r)
	switch v.mode {
	case mode401:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "you_sent": echo})
		return
	case mode500Auth:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "internal error; the request carried Authorization: %s", r.Header.Get("Authorization"))
		return
	case mode500Query:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "internal error serving %s", r.RequestURI)
		return
	case mode500Cut:
		// The report quotes the first 200 bytes of an error body: put the
		// credential across that cut.
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s trailing", strings.Repeat("e", 200-len(secretMarker)-4), got)
		return
	}
	if got != v.expected() {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "wrong or missing credential"})
		v.t.Errorf("vendor: list request without the right credential (mode %s)", v.mode)
		return
	}
	items := []map[string]any{
		{"id": "k1", "name": "deploy key", "note": "first"},
		{"id": "k2", "name": "ci key", "note": "second"},
	}
	if v.mode == modeRecordsEcho {
		// A vendor that returns the caller's own credential in a record
		// (a "current token" entry, a debug field).
		items[0]["name"] = got
		items[1]["note"] = echo
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// forbidden lists what must never appear in any output of a run with
// secret (and access token).
func (ac authCase) forbidden(secret, token string) []string {
	out := []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		secretMarker, // catches a partial (truncated) secret too
	}
	if ac.forms != nil {
		out = append(out, ac.forms(secret)...)
	}
	if ac.name == "oauth2_client_credentials" {
		out = append(out, token, tokenMarker)
	}
	return out
}

// assertNoLeak fails the test for every forbidden string found in where.
func assertNoLeak(t *testing.T, forbidden []string, where map[string][]byte) {
	t.Helper()
	names := make([]string, 0, len(where))
	for n := range where {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		data := where[n]
		for _, f := range forbidden {
			if i := bytes.Index(data, []byte(f)); i >= 0 {
				lo, hi := max(0, i-60), min(len(data), i+len(f)+20)
				t.Errorf("credential form %q leaked into %s: …%q…", f, n, data[lo:hi])
			}
		}
	}
}

// dbFiles reads the SQLite database and its side files raw.
func dbFiles(t *testing.T, db string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(db + suffix)
		switch {
		case err == nil:
			out[filepath.Base(db+suffix)] = b
		case suffix == "":
			t.Fatalf("the run left no database: %v", err)
		}
	}
	return out
}

func readJSONL(t *testing.T, path string) []nhi.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("--out file: %v", err)
	}
	defer f.Close()
	var out []nhi.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec nhi.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("--out line %d is not a record: %v\n%s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunAuthTypesNeverLeakCredential(t *testing.T) {
	modes := []struct {
		mode       string
		oauthOnly  bool
		wantCode   int
		wantStream string // outcome of stream keys in the summary
	}{
		{modeOK, false, 0, "complete"},
		{mode401, false, 3, "denied"},
		{mode500Auth, false, 3, "failed"},
		{mode500Query, false, 3, "failed"},
		{mode500Cut, false, 3, "failed"},
		{modeToken401, true, 3, "failed"},
		{modeRecordsEcho, false, 0, "complete"},
	}
	for _, ac := range authCases {
		for _, m := range modes {
			if m.oauthOnly && ac.name != "oauth2_client_credentials" {
				continue
			}
			t.Run(ac.name+"/"+m.mode, func(t *testing.T) {
				// "/" and "+" make the escaped forms differ from the raw one.
				secret := secretMarker + "-" + ac.name + "-x/y+z"
				v := &leakVendor{t: t, ac: ac, secret: secret, mode: m.mode,
					token: tokenMarker + "UE-" + ac.name + "-q/r+s"}
				srv := httptest.NewServer(v)
				defer srv.Close()
				t.Setenv(credEnv, secret)

				dir := t.TempDir()
				spec := writeFile(t, dir, "leakcheck.yaml", fmt.Appendf(nil, leakSpec, ac.auth))
				db := filepath.Join(dir, "x.db")
				out := filepath.Join(dir, "records.jsonl")
				r := spindle(t, "run", spec, "--base-url", srv.URL+"/v1", "--credential-env", credEnv,
					"--db", db, "--out", out, "-v")
				if r.code != m.wantCode {
					t.Errorf("want exit %d, got %s", m.wantCode, r)
				}
				if got := summary(t, r.stdout)["keys"]; got != m.wantStream {
					t.Errorf("stream keys: outcome %q, want %q\n%s", got, m.wantStream, r)
				}
				if v.listCalls.Load() == 0 && m.mode != modeToken401 {
					t.Errorf("the vendor's list endpoint was never called")
				}
				if ac.name == "oauth2_client_credentials" && v.tokenCalls.Load() == 0 {
					t.Errorf("the token endpoint was never called")
				}

				recs := readJSONL(t, out)
				if m.wantCode == 0 {
					var ids []string
					for _, rec := range recs {
						ids = append(ids, rec.ExternalID)
						if rec.Kind != nhi.APIKey || rec.Source != "leakcheck" {
							t.Errorf("record %s: kind %s source %s, want api_key from leakcheck", rec.ExternalID, rec.Kind, rec.Source)
						}
					}
					if !slices.Equal(ids, []string{"k1", "k2"}) {
						t.Errorf("--out holds records %v, want [k1 k2]", ids)
					}
					if ents, _ := inventory(t, db); len(ents) != 2 {
						t.Errorf("inventory holds %d entities, want 2", len(ents))
					}
				} else if len(recs) != 0 {
					t.Errorf("--out holds %d records from a failed stream", len(recs))
				}

				where := dbFiles(t, db)
				where["stdout"] = []byte(r.stdout)
				where["stderr"] = []byte(r.stderr)
				jsonl, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				where["records.jsonl"] = jsonl
				for _, args := range [][]string{
					{"inventory", "list", "--json"},
					{"inventory", "list"},
					{"inventory", "runs", "--json"},
				} {
					rr := mustSpindle(t, 0, append(args, "--db", db)...)
					where[strings.Join(args, " ")] = []byte(rr.stdout + rr.stderr)
				}
				assertNoLeak(t, ac.forbidden(secret, v.token), where)
				if t.Failed() {
					t.Logf("the run: %s", r)
				}
			})
		}
	}
}

func TestRunCredentialErrors(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "leakcheck.yaml", fmt.Appendf(nil, leakSpec, authCases[2].auth)) // bearer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a run without a usable credential reached the vendor: %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	db := filepath.Join(dir, "x.db")
	const other = "SPINDLE_E2E_OTHER"
	otherValue := secretMarker + "-unrelated-variable"
	t.Setenv(other, otherValue)

	cases := []struct {
		name     string
		value    *string // nil: unset
		args     []string
		wantCode int
		want     []string // in stderr
	}{
		{"unset", nil, nil, 1, []string{credEnv, "not set"}},
		{"blank", ptr("  \n"), nil, 1, []string{credEnv, "empty"}},
		{"too short", ptr("x9Q"), nil, 1, []string{"shorter than"}},
		{"no --credential-env", ptr(secretMarker + "-never-read"), []string{"--credential-env="}, 1, []string{"--credential-env"}},
		{"--config without =", ptr(secretMarker + "-never-read"), []string{"--config", "tenant"}, 2, []string{"--config", "NAME=VALUE"}},
		{"--config with empty name", ptr(secretMarker + "-never-read"), []string{"--config", "=x"}, 2, []string{"NAME=VALUE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.value == nil {
				t.Setenv(credEnv, "") // restored after the test
				os.Unsetenv(credEnv)
			} else {
				t.Setenv(credEnv, *c.value)
			}
			args := append([]string{"run", spec, "--base-url", srv.URL + "/v1", "--credential-env", credEnv, "--db", db}, c.args...)
			r := spindle(t, args...)
			if r.code != c.wantCode {
				t.Fatalf("want exit %d, got %s", c.wantCode, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			all := r.stdout + r.stderr
			for _, bad := range []string{secretMarker, "x9Q", otherValue} {
				if strings.Contains(all, bad) {
					t.Errorf("output shows a value (%q): %s", bad, r)
				}
			}
		})
	}
	if ents, err := os.Stat(db); err == nil {
		// A run that never started must not have recorded anything.
		if rs := runs(t, db); len(rs) != 0 {
			t.Errorf("failed starts recorded %d runs (db size %d)", len(rs), ents.Size())
		}
	}
}

func ptr[T any](v T) *T { return &v }

package sandbox

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

// The hand-written reference specs in examples/docs/specs, one per example
// doc that the spec language can express, run by the real runtime against
// the doc's sandbox: every stream completes and reads exactly the seeded
// ids of the list it reads.

// specDoc is the example doc a reference spec reads.
func specDoc(specFile string) string {
	return strings.TrimSuffix(filepath.Base(specFile), ".integration.yaml") + ".yaml"
}

// sameTemplate says whether a spec's request path reads the doc's path
// template: equal literal segments, a template where the doc has one.
func sameTemplate(specPath, docPath string) bool {
	a := strings.Split(strings.Trim(specPath, "/"), "/")
	b := strings.Split(strings.Trim(docPath, "/"), "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		pa, pb := strings.HasPrefix(a[i], "{"), strings.HasPrefix(b[i], "{")
		if pa != pb || !pa && a[i] != b[i] {
			return false
		}
	}
	return true
}

// runStyleSpec runs spec against srv with the credential its auth type
// takes (secret overrides it when not "").
func runStyleSpec(t *testing.T, spec *integration.Spec, srv *Server, secret string) (*collectSink, *runtime.Report) {
	t.Helper()
	opts := runtime.Options{BaseURL: srv.URL(), Transport: srv.Transport(), Config: map[string]string{}}
	if _, ok := spec.Connection.Config["project"]; ok {
		opts.Config["project"] = "sbx-demo" // no list of the doc names projects: any will do
	}
	for _, c := range srv.Credentials() {
		switch {
		case spec.Connection.Auth.Type == integration.AuthOAuth2ClientCredentials && c.ClientID != "":
			opts.Config["client_id"] = c.ClientID
			opts.Secrets = staticSecret(c.ClientSecret)
		case spec.Connection.Auth.Type == integration.AuthBearer && c.Type == "http",
			spec.Connection.Auth.Type == integration.AuthAPIKey && c.Type == "apiKey":
			opts.Secrets = staticSecret(c.Value)
		}
	}
	if secret != "" {
		opts.Secrets = staticSecret(secret)
	}
	r, err := runtime.New(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	sink := newCollectSink()
	rep, err := r.Run(t.Context(), sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sink, rep
}

func TestStyleSpecsReadGroundTruth(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(styleDocsDir, "specs", "*.integration.yaml"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no reference specs: %v", err)
	}
	for _, file := range specs {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			doc, err := integration.LoadFile(file)
			if err != nil {
				t.Fatalf("spec: %v", err)
			}
			_, srv := startStyle(t, specDoc(file), Options{Seed: 13, Entities: 31})
			sink, rep := runStyleSpec(t, doc.Spec, srv, "")
			if rep.Status != store.RunOK {
				t.Errorf("run status %s", rep.Status)
			}
			truth := srv.Truth()
			for _, st := range doc.Spec.Streams {
				res := sink.results[st.Name]
				if res.Outcome != store.Complete {
					t.Errorf("%s: outcome %s, errors %v", st.Name, res.Outcome, res.Errors)
				}
				if st.Emits == "" {
					continue
				}
				i := slices.IndexFunc(truth.Operations, func(o OperationTruth) bool { return sameTemplate(st.Request.Path, o.Path) })
				if i < 0 {
					t.Errorf("%s: %s reads no list of the doc", st.Name, st.Request.Path)
					continue
				}
				want, got := sorted(truth.Operations[i].All()), sorted(sink.ids[st.Name])
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("%s: read %d ids, the sandbox seeded %d\n got %v\nwant %v", st.Name, len(got), len(want), got, want)
				}
			}
		})
	}
}

// In band errors fail loudly: with a wrong token every Parley call
// answers HTTP 200 and ok false, and the spec's error_when turns that into
// failed streams, never a complete, empty inventory.
func TestStyleSpecRPCWrongTokenFailsLoudly(t *testing.T) {
	t.Parallel()
	file := filepath.Join(styleDocsDir, "specs", "rpc-envelope.integration.yaml")
	doc, err := integration.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, srv := startStyle(t, specDoc(file), Options{Seed: 13})
	sink, rep := runStyleSpec(t, doc.Spec, srv, "sbx_not-the-token")
	if rep.Status == store.RunOK {
		t.Errorf("run status %s with a wrong token", rep.Status)
	}
	for _, st := range doc.Spec.Streams {
		res := sink.results[st.Name]
		if res.Outcome == store.Complete || !strings.Contains(strings.Join(res.Errors, " "), "invalid_auth") {
			t.Errorf("%s: outcome %s errors %v, want a failure naming invalid_auth", st.Name, res.Outcome, res.Errors)
		}
	}
	for _, e := range srv.RequestLog() {
		if e.Status != 200 {
			t.Errorf("logged %d for %s; in-band errors are answered with 200", e.Status, e.Path)
		}
	}
}

package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const testSecretValue = "s3cr3t/Val+ue=?&x y~K9"

// secretForms are the shapes in which a secret could leak; the test lists
// them itself rather than trusting the Redactor's own list.
func secretForms(v string) []string {
	b := []byte(v)
	return []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		base64.StdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
}

func assertNoSecret(t *testing.T, where, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		for _, f := range secretForms(v) {
			if strings.Contains(text, f) {
				t.Errorf("%s leaks %q:\n%s", where, f, text)
			}
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := NewSecret(testSecretValue)
	if s.Reveal() != testSecretValue {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	if s.IsZero() || !NewSecret("").IsZero() || !(Secret{}).IsZero() {
		t.Fatal("IsZero wrong")
	}
	type exported struct{ S Secret }
	type unexported struct {
		name string
		s    Secret
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		out = append(out,
			fmt.Sprintf(verb, s),
			fmt.Sprintf(verb, &s),
			fmt.Sprintf(verb, exported{s}),
			fmt.Sprintf(verb, unexported{"n", s}),
			fmt.Sprintf(verb, []Secret{s}),
			fmt.Sprintf(verb, map[string]Secret{"k": s}))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	for _, v := range []any{s, exported{s}, map[string]Secret{"k": s}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("m", "secret", s, "ptr", &s, "struct", exported{s}, "hidden", unexported{"n", s}, slog.Group("g", "s", s))
		l.With("s", s).Info("with")
	}
	out = append(out, buf.String())
	for _, o := range out {
		assertNoSecret(t, "formatted secret", o, testSecretValue)
	}
	if got := fmt.Sprintf("%v", s); got != "[REDACTED]" {
		t.Errorf("%%v = %q, want [REDACTED]", got)
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("slog output lacks [REDACTED]: %s", buf.String())
	}
}

func TestSecretEnvResolver(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PD_TOKEN": "pd-value-1234", "DEFAULT_TOKEN": "default-value-99", "EMPTY": "  ", "PADDED": "padded-value\n"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		r       EnvResolver
		ref     string
		want    string
		wantErr []string // substrings of the error
	}{
		{name: "mapped", r: EnvResolver{Vars: map[string]string{"pagerduty": "PD_TOKEN"}, Lookup: lookup}, ref: "pagerduty", want: "pd-value-1234"},
		{name: "default", r: EnvResolver{Vars: map[string]string{"pagerduty": "PD_TOKEN"}, Default: "DEFAULT_TOKEN", Lookup: lookup}, ref: "okta", want: "default-value-99"},
		{name: "trimmed", r: EnvResolver{Default: "PADDED", Lookup: lookup}, ref: "x", want: "padded-value"},
		{name: "unset", r: EnvResolver{Vars: map[string]string{"okta": "OKTA_TOKEN"}, Lookup: lookup}, ref: "okta", wantErr: []string{`"okta"`, "OKTA_TOKEN", "not set", "set OKTA_TOKEN"}},
		{name: "empty", r: EnvResolver{Default: "EMPTY", Lookup: lookup}, ref: "okta", wantErr: []string{`"okta"`, "EMPTY", "is empty"}},
		{name: "no mapping", r: EnvResolver{Lookup: lookup}, ref: "okta", wantErr: []string{`"okta"`, "no environment variable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := tt.r.Resolve(context.Background(), tt.ref)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("want error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				for _, v := range env {
					if strings.TrimSpace(v) != "" && strings.Contains(err.Error(), strings.TrimSpace(v)) {
						t.Errorf("error %q contains a value", err)
					}
				}
				return
			}
			if err != nil || s.Reveal() != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", s.Reveal(), err, tt.want)
			}
		})
	}
	t.Run("cancelled ctx", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := (EnvResolver{Default: "PD_TOKEN", Lookup: lookup}).Resolve(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	var _ SecretResolver = EnvResolver{}
}

func TestSecretEnvResolverOSEnv(t *testing.T) {
	t.Setenv("SPINDLE_TEST_SECRET_ENV", "from-os-env")
	s, err := EnvResolver{Default: "SPINDLE_TEST_SECRET_ENV"}.Resolve(context.Background(), "x")
	if err != nil || s.Reveal() != "from-os-env" {
		t.Fatalf("Resolve = %v, %v", s, err)
	}
}

func TestRedactorForms(t *testing.T) {
	t.Parallel()
	r := NewRedactor()
	r.Add(testSecretValue)
	for _, f := range append(secretForms(testSecretValue), `s3cr3t/Val+ue=?\u0026x y~K9`) {
		in := "before " + f + " after"
		if got := r.String(in); got != "before [REDACTED] after" {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
	if got := r.String("nothing here"); got != "nothing here" {
		t.Errorf("String changed clean text: %q", got)
	}
}

func TestRedactorRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		add  []string
		in   string
		want string
	}{
		{name: "short values ignored", add: []string{"abc", ""}, in: "abc abc", want: "abc abc"},
		{name: "every occurrence", add: []string{"tok-1234"}, in: "tok-1234,tok-1234", want: "[REDACTED],[REDACTED]"},
		{name: "longest first", add: []string{"tok-1234", "tok-1234-extended"}, in: "x tok-1234-extended y", want: "x [REDACTED] y"},
		{name: "several", add: []string{"alpha-secret", "beta-secret"}, in: "alpha-secret/beta-secret", want: "[REDACTED]/[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRedactor()
			r.Add(tt.add...)
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("nil redactor", func(t *testing.T) {
		t.Parallel()
		var r *Redactor
		r.Add("whatever-1234")
		err := errors.New("x")
		if r.String("a") != "a" || r.Error(err) != err || r.Error(nil) != nil {
			t.Fatal("nil Redactor should pass through")
		}
	})
	t.Run("zero value", func(t *testing.T) {
		t.Parallel()
		var r Redactor
		r.Add("zero-value-secret")
		if got := r.String("zero-value-secret"); got != "[REDACTED]" {
			t.Fatalf("String = %q", got)
		}
	})
}

func TestRedactorError(t *testing.T) {
	t.Parallel()
	r := NewRedactor()
	r.Add(testSecretValue)
	if r.Error(nil) != nil {
		t.Fatal("nil error should stay nil")
	}
	// The URL an http.Client reports includes an api_key query parameter.
	uerr := &url.Error{Op: "Get", URL: "https://api.example.com/v1/keys?api_key=" + url.QueryEscape(testSecretValue),
		Err: fmt.Errorf("dial: %w", context.DeadlineExceeded)}
	err := r.Error(uerr)
	for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s %q", err, err, err, err, err)} {
		assertNoSecret(t, "Redacted url.Error", s, testSecretValue)
	}
	if !strings.Contains(err.Error(), "api_key=[REDACTED]") {
		t.Errorf("Error() = %q", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Error("Redacted error no longer unwraps")
	}
	// Redacting twice does not nest, and picks up values added since.
	r.Add("added-later-secret")
	err2 := r.Error(r.Error(fmt.Errorf("x added-later-secret %s", testSecretValue)))
	if err2.Error() != "x [REDACTED] [REDACTED]" {
		t.Errorf("Error() = %q", err2)
	}
	if _, nested := errors.Unwrap(err2).(*redactedError); nested {
		t.Error("Redacted error nests")
	}
}

func TestRedactorConcurrent(t *testing.T) {
	t.Parallel()
	r := NewRedactor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.Add(fmt.Sprintf("concurrent-secret-%d", i))
		}()
		go func() {
			defer wg.Done()
			_ = r.String("concurrent-secret-1 and more")
		}()
	}
	wg.Wait()
	if got := r.String("concurrent-secret-7"); got != "[REDACTED]" {
		t.Fatalf("String = %q", got)
	}
}

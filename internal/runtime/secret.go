package runtime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Redacted is what every secret prints as.
const Redacted = "[REDACTED]"

// Secret holds a credential value. Every way of printing, logging or
// encoding it yields "[REDACTED]"; Reveal is the one way to the value, so
// a grep for Reveal finds every place a credential leaves its box
// (ARCHITECTURE boundary 4).
//
// The value lives in a closure: when fmt prints a struct that holds a
// Secret in an unexported field it cannot call our methods and walks the
// fields by reflection, and a func is the one kind it prints as an address
// under every verb (a string or a pointer to one shows the value under
// %s). A side effect: Secret is not comparable; use IsZero.
type Secret struct{ reveal func() string }

// NewSecret wraps a credential value.
func NewSecret(v string) Secret { return Secret{reveal: func() string { return v }} }

// Reveal returns the value. Call it only where the value goes on the wire.
func (s Secret) Reveal() string {
	if s.reveal == nil {
		return ""
	}
	return s.reveal()
}

// IsZero reports whether the secret is unset or empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return "runtime.Secret(" + Redacted + ")" }

// Format implements fmt.Formatter so that every verb (%d, %x, %q …), not
// only %v and %s, redacts.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, s.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(Redacted))
	default:
		_, _ = io.WriteString(f, Redacted)
	}
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML, slog text, map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// SecretResolver turns a credential reference (auth.credential, a name)
// into its value. The vault implements it in production; EnvResolver serves
// local runs and tests.
type SecretResolver interface {
	Resolve(ctx context.Context, ref string) (Secret, error)
}

// EnvResolver resolves a credential reference from an environment variable.
// Vars maps a reference to a variable name; Default names the variable for
// any reference not in Vars. Lookup defaults to os.LookupEnv (tests inject
// a map instead of touching the process environment).
type EnvResolver struct {
	Vars    map[string]string
	Default string
	Lookup  func(string) (string, bool)
}

// Resolve implements SecretResolver. Errors name the reference and the
// variable and say what to set; they never contain a value.
func (r EnvResolver) Resolve(ctx context.Context, ref string) (Secret, error) {
	if err := ctx.Err(); err != nil {
		return Secret{}, err
	}
	name, ok := r.Vars[ref]
	if !ok || name == "" {
		name = r.Default
	}
	if name == "" {
		return Secret{}, fmt.Errorf("credential %q: no environment variable is configured for it; map it to one (or set a default variable) and export the credential there", ref)
	}
	lookup := r.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	switch {
	case !ok:
		return Secret{}, fmt.Errorf("credential %q: environment variable %s is not set; set %s to the credential", ref, name, name)
	case strings.TrimSpace(v) == "":
		return Secret{}, fmt.Errorf("credential %q: environment variable %s is empty; set %s to the credential", ref, name, name)
	}
	// A trailing newline (from `export X=$(cat file)` or a mounted file)
	// would make an invalid header; no credential has edge whitespace.
	return NewSecret(strings.TrimSpace(v)), nil
}

// MinRedactLen is the shortest value a Redactor redacts. Replacing a 1–3
// character value would blank out ordinary words all over a report (a
// secret "api" would redact every "api") and the pattern of blanks would
// itself reveal the value; no issued credential is that short. NewAuth
// refuses credentials shorter than this, so no credential in use escapes
// redaction.
const MinRedactLen = 4

// Redactor replaces every known secret value in text. It is safe for
// concurrent use: auth layers add access tokens while other goroutines
// redact errors. A nil *Redactor redacts nothing.
type Redactor struct {
	mu     sync.RWMutex
	values map[string]struct{}
	repl   *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{values: map[string]struct{}{}} }

// Add registers values and the encoded forms in which they travel: URL
// query- and path-escaped, base64 (standard and URL alphabets, padded and
// raw), JSON- and Go-quoted. Values shorter than MinRedactLen are ignored.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = map[string]struct{}{}
	}
	n := len(r.values)
	for _, v := range values {
		if len(v) < MinRedactLen {
			continue
		}
		for _, f := range encodedForms(v) {
			if len(f) >= MinRedactLen {
				r.values[f] = struct{}{}
			}
		}
	}
	if len(r.values) == n {
		return
	}
	// Longest first: strings.Replacer prefers earlier arguments at a
	// position, so a secret that contains another is replaced whole.
	all := make([]string, 0, len(r.values))
	for v := range r.values {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Redacted)
	}
	r.repl = strings.NewReplacer(pairs...)
}

func encodedForms(v string) []string {
	b := []byte(v)
	forms := []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		base64.StdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	q := strconv.Quote(v) // %q in error messages (oauth2 quotes error descriptions)
	forms = append(forms, q[1:len(q)-1])
	return forms
}

// String returns s with every occurrence of a known value replaced by
// "[REDACTED]".
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	repl := r.repl
	r.mu.RUnlock()
	if repl == nil {
		return s
	}
	return repl.Replace(s)
}

// Error returns an error whose message is err's, Redacted, and that still
// unwraps to err so errors.Is and errors.As keep working. Code that digs
// the original out with errors.As (a *url.Error's URL, say) gets the
// unredacted original and must redact what it prints itself.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil {
		return err
	}
	if re, ok := err.(*redactedError); ok {
		// Re-redact (values may have been added since) without nesting.
		return &redactedError{msg: r.String(re.msg), err: re.err}
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Format keeps %+v and %#v from printing the wrapped error's fields.
func (e *redactedError) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(e.msg))
		return
	}
	_, _ = io.WriteString(f, e.msg)
}

package draft

import (
	"github.com/spindlehq/spindle/internal/names"
	"strings"
)

// words splits an identifier or a phrase into singular lower-case words.
func words(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(names.Snake(s), func(r rune) bool { return r == '_' }) {
		if w != "" {
			out = append(out, names.Singular(w))
		}
	}
	return out
}

// slug makes a metadata name: names.Slug, at most 63 characters.
func slug(s string) string {
	out := names.Slug(s)
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

// ident makes a CEL/config identifier ([A-Za-z_][A-Za-z0-9_]*) from s.
func ident(s string) string {
	var b strings.Builder
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
			b.WriteRune(c)
		case c >= '0' && c <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// streamIdent makes a stream name ([a-z0-9][a-z0-9_]{0,62}).
func streamIdent(parts ...string) string {
	var ws []string
	for _, p := range parts {
		for _, w := range strings.Split(names.Snake(p), "_") {
			if w != "" {
				ws = append(ws, w)
			}
		}
	}
	out := strings.Join(ws, "_")
	if out == "" {
		out = "stream"
	}
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "_")
	}
	return out
}

// celIdentOK says whether s can be a CEL field selection (r.s); others need
// index syntax (r["x-y"]).
func celIdentOK(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	switch s {
	case "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
		"import", "let", "loop", "package", "namespace", "return", "var", "void", "while":
		return false
	}
	return true
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func hasSuffixAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

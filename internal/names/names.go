// Package names holds the small word functions that inference, the
// sandbox and the drafter share, so all three read a vendor's identifiers
// the same way: lastUsedAt, last-used-at and LAST_USED_AT mean one thing.
package names

import (
	"strings"
	"unicode"
)

// Snake normalises an identifier for meaning checks: lastUsedAt,
// last-used-at and LAST_USED_AT all become last_used_at. Separators and
// other punctuation become "_"; leading and trailing ones are dropped.
func Snake(name string) string {
	var b strings.Builder
	r := []rune(name)
	for i, c := range r {
		switch {
		case c == '-' || c == ' ' || c == '.' || c == '/':
			b.WriteByte('_')
		case unicode.IsUpper(c):
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsUpper(r[i-1]) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
		case unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// Singular is a small English singulariser, enough to compare
// "extensions" with "extension" and "policies" with "policy"; it leaves
// short words and words ending in ss/us/is alone.
func Singular(w string) string {
	n := len(w)
	switch {
	case n <= 3:
		return w
	case strings.HasSuffix(w, "ies"):
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "uses"):
		return w[:n-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "s"):
		return w[:n-1]
	}
	return w
}

// Slug lower-cases s and keeps letters and digits, with "-" between words.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		default:
			dash = true
		}
	}
	return b.String()
}

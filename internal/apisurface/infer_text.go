package apisurface

import (
	"github.com/spindlehq/spindle/internal/names"
	"strings"
	"unicode"
	"unicode/utf8"
)

// words splits an identifier or a phrase into lower-case words: at
// anything that is not a letter or digit, and at camelCase and acronym
// boundaries ("listAPITokens" → list api tokens, "ssh_keys" → ssh keys).
// Digits stay with the letters before them ("v2", "x509").
func words(s string) []string {
	return appendWords(make([]string, 0, 8), s)
}

func appendWords(dst []string, s string) []string {
	// Lower-case once and slice the words out of that copy: one
	// allocation per text instead of one per word. Byte offsets match the
	// original only for ASCII, so other text lowers word by word.
	lower := ""
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		lower = strings.ToLower(s)
	}
	start := -1
	var prev rune
	flush := func(end int) {
		if start >= 0 && end > start {
			if ascii {
				dst = append(dst, lower[start:end])
			} else {
				dst = append(dst, strings.ToLower(s[start:end]))
			}
		}
		start = -1
	}
	for i, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !alnum {
			flush(i)
			prev = r
			continue
		}
		if start < 0 {
			start = i
			prev = r
			continue
		}
		if unicode.IsUpper(r) {
			switch {
			case unicode.IsLower(prev) || unicode.IsDigit(prev):
				// camelCase: "apiToken" → api | Token.
				flush(i)
				start = i
			case unicode.IsUpper(prev):
				// Acronym followed by a word: "APIToken" splits before
				// the T, which starts "Token".
				if next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):]); unicode.IsLower(next) {
					flush(i)
					start = i
				}
			}
		}
		prev = r
	}
	flush(len(s))
	return dst
}

// norm lower-cases s and drops everything but letters and digits, so
// "next_cursor", "nextCursor" and "@odata.nextLink" compare by letters.
func norm(s string) string {
	var buf [64]byte
	return string(appendNorm(buf[:0], s))
}

// appendNorm appends norm(s) to dst; map lookups with string(dst) do not
// allocate, which keeps walks over large schemas cheap.
func appendNorm(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			dst = append(dst, c)
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
			i += size - 1
		}
	}
	return dst
}

// normSingular is norm of the singular of every word of s: "ssh_keys" and
// "sshKey" both become "sshkey".
func normSingular(s string) string {
	ws := words(s)
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(names.Singular(w))
	}
	return b.String()
}

// bodyPath renders keys as a body path in the runtime's syntax: a dot
// path, or a JSON Pointer when a key holds a dot, a slash or a tilde (or
// is empty), since a dot path cannot say those.
func bodyPath(keys []string) string {
	pointer := false
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "./~") {
			pointer = true
			break
		}
	}
	if !pointer {
		return strings.Join(keys, ".")
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteByte('/')
		k = strings.ReplaceAll(k, "~", "~0")
		b.WriteString(strings.ReplaceAll(k, "/", "~1"))
	}
	return b.String()
}

// containsWord reports whether text holds word as a whole word, ignoring
// case; a word here runs over letters, digits, '_' , '.' and '@' so that
// "next_cursor" does not match inside "prev_next_cursor_id".
func containsWord(text, word string) bool {
	if word == "" {
		return false
	}
	lt, lw := strings.ToLower(text), strings.ToLower(word)
	for off := 0; ; {
		i := strings.Index(lt[off:], lw)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(lw)
		if (i == 0 || !isWordByte(lt[i-1])) && (j == len(lt) || !isWordByte(lt[j]) || (lt[j] == '.' && (j+1 == len(lt) || !isWordByte(lt[j+1])))) {
			return true
		}
		off = i + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '@' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// plainText lower-cases s and removes the markup that separates words
// from their meaning in prose (backticks, quotes, asterisks), and folds
// runs of spaces, so phrase matching sees "the link header contains a next
// link" whatever the doc's formatting.
func plainText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == '`' || r == '"' || r == '\'' || r == '*':
			continue
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// clamp bounds a confidence to [lo, hi] and rounds it to two decimals so
// that reports and golden files stay stable.
func clamp(v, lo, hi float64) float64 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return float64(int(v*100+0.5)) / 100
}

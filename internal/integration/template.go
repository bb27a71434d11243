package integration

import (
	"fmt"
	"strings"
	"unicode"
)

// Templates: "{config.name}" and "{alias.field.sub}" inside base_url, paths,
// query and header values, and auth username/client_id. A reference is a
// dotted name; the first segment is "config" or a for_each alias.

// TemplateRefs returns the references a template uses, in order.
func TemplateRefs(s string) ([]string, error) {
	var refs []string
	for {
		i := strings.IndexByte(s, '{')
		j := strings.IndexByte(s, '}')
		switch {
		case i < 0 && j < 0:
			return refs, nil
		case i < 0 || (j >= 0 && j < i):
			return refs, fmt.Errorf("unmatched '}' in template")
		case j < 0:
			return refs, fmt.Errorf("unclosed '{' in template")
		}
		ref := s[i+1 : j]
		if !validRef(ref) {
			return refs, fmt.Errorf("template reference {%s} is not a dotted name such as {config.subdomain} or {parent.id}", ref)
		}
		refs = append(refs, ref)
		s = s[j+1:]
	}
}

func validRef(ref string) bool {
	if ref == "" {
		return false
	}
	for _, seg := range strings.Split(ref, ".") {
		if seg == "" {
			return false
		}
		for _, c := range seg {
			if c != '_' && c != '-' && !unicode.IsLetter(c) && !unicode.IsDigit(c) {
				return false
			}
		}
	}
	return true
}

// Expand replaces each {ref} with lookup(ref), passed through escape (nil
// for none). A reference lookup cannot resolve is an error naming it.
func Expand(s string, lookup func(ref string) (string, error), escape func(string) string) (string, error) {
	if !strings.Contains(s, "{") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed '{' in template %q", s)
		}
		j += i
		v, err := lookup(s[i+1 : j])
		if err != nil {
			return "", err
		}
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[j+1:]
	}
}

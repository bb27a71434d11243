package integration

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Known credential formats. Patterns, not vendor special cases: each is the
// documented shape of a credential family, and matching is only ever used to
// refuse or redact.
var secretPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"private key block", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{"AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"GitHub token", regexp.MustCompile(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}`)},
	{"GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}`)},
	{"Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"Stripe-style key", regexp.MustCompile(`\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}`)},
	{"OpenAI-style key", regexp.MustCompile(`\bsk-[A-Za-z0-9_\-]{20,}`)},
	{"SendGrid-style key", regexp.MustCompile(`\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}`)},
	{"JSON Web Token", regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}`)},
	{"credentials in URL", regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`)},
	{"Authorization value", regexp.MustCompile(`(?i)^\s*(bearer|basic|token|ssws)\s+[A-Za-z0-9+/=_\-.~]{12,}\s*$`)},
	{"key in URL query", regexp.MustCompile(`(?i)[?&](api_?key|access_token|token|secret|client_secret|password|sig|signature)=[^&{\s]{8,}`)},
}

var (
	tokenLike = regexp.MustCompile(`^[A-Za-z0-9+/=_\-.~]{32,}$`)
	// UUIDs are identifiers (tenants, client ids), not secrets.
	uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// LooksLikeSecret reports whether s looks like a credential value, and why.
// Long random-looking tokens count; CEL, paths, URLs and prose do not.
func LooksLikeSecret(s string) (string, bool) {
	for _, p := range secretPatterns {
		if p.re.MatchString(s) {
			return p.name, true
		}
	}
	t := strings.TrimSpace(s)
	if tokenLike.MatchString(t) && !uuidLike.MatchString(t) && !strings.Contains(t, "..") && !pathLike(t) {
		classes := 0
		for _, set := range []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"} {
			if strings.ContainsAny(t, set) {
				classes++
			}
		}
		if e := entropy(t); classes >= 2 && e >= 3.5 {
			return fmt.Sprintf("a %d-character random-looking token", len(t)), true
		}
	}
	return "", false
}

// pathLike: an absolute path of several segments (/api/v1/apps/tokens, a
// doc's file location) is long and mixed-case but not a token. Base64 may
// start with "/" too, so padding or '+' keeps a value suspect.
func pathLike(t string) bool {
	return strings.HasPrefix(t, "/") && strings.Count(t, "/") >= 2 && !strings.ContainsAny(t, "+=")
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	counts := map[rune]int{}
	for _, c := range s {
		counts[c]++
	}
	var e float64
	n := float64(len([]rune(s)))
	for _, c := range counts {
		p := float64(c) / n
		e -= p * math.Log2(p)
	}
	return e
}

// walkScalars calls fn for every scalar value in the document with its YAML
// path and the key it sits under.
func walkScalars(d *Document, fn func(path, key, val string)) {
	if d.ast == nil {
		return
	}
	var walk func(n ast.Node, path, key string)
	walk = func(n ast.Node, path, key string) {
		switch t := n.(type) {
		case *ast.DocumentNode:
			walk(t.Body, path, key)
		case *ast.MappingNode:
			for _, v := range t.Values {
				walk(v, path, key)
			}
		case *ast.MappingValueNode:
			k := t.Key.String()
			if sk, ok := t.Key.(ast.ScalarNode); ok {
				k = fmt.Sprint(sk.GetValue())
			}
			walk(t.Value, path+"."+quoteKey(k), k)
		case *ast.SequenceNode:
			for i, v := range t.Values {
				walk(v, fmt.Sprintf("%s[%d]", path, i), key)
			}
		case *ast.TagNode:
			walk(t.Value, path, key)
		case *ast.AnchorNode:
			walk(t.Value, path, key)
		case *ast.StringNode:
			fn(path, key, t.Value)
		case *ast.LiteralNode:
			fn(path, key, t.Value.Value)
		case ast.ScalarNode:
			fn(path, key, fmt.Sprint(t.GetValue()))
		}
	}
	for _, doc := range d.ast.Docs {
		walk(doc, "$", "")
	}
}

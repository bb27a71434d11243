package apisurface

import (
	"regexp"
	"slices"
	"strings"
)

// placeholderRE finds where the secret goes in an example header value:
// {token}, <API_KEY>, $TOKEN, ${TOKEN}, [key], YOUR_API_KEY, xxxx, "...".
var placeholderRE = regexp.MustCompile(`\{[^}\n]{1,40}\}|<[^>\n]{1,40}>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\[[^\]\n]{1,40}\]|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[xX]{4,}\b|\.\.\.|…`)

// prefixShapeRE is what a header value prefix looks like: a word or two,
// ending in a space or "=" ("SSWS ", "Bearer ", "Token token=").
var prefixShapeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]*(?: [A-Za-z][A-Za-z0-9_\-]*)?(?: |=)$`)

// codeSpanRE finds `code` and "quoted" spans, where docs show exact values.
var codeSpanRE = regexp.MustCompile("`([^`\n]{1,100})`|\"([^\"\n]{1,100})\"")

// prefixPhraseRE finds prose that names the header prefix: "prefixed with
// SSWS:", "preceded by the word `Bearer`". Not "starts with": that is how
// docs describe a key's own format ("keys start with sk_").
var prefixPhraseRE = regexp.MustCompile(`(?i)\b(?:prefixed (?:with|by)|preceded by|with the prefix|prefix of)\s+((?:[^\s]+\s+){0,3}[^\s]+)`)

// prefixWordRE is a word that can be a prefix as prose names it: letters,
// digits and inner dashes ("SSWS", "Api-Key", "token="); quoted or
// followed by punctuation, so that "prefixed with your API key" names no
// prefix.
var prefixWordRE = regexp.MustCompile("^([`\"']?)([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]=?)([`\"']?)([:.,;)]?)$")

var fillerWords = map[string]bool{"the": true, "a": true, "an": true, "word": true, "string": true, "keyword": true,
	"value": true, "text": true, "literal": true, "scheme": true, "your": true, "its": true, "their": true}

type prefixCand struct {
	prefix   string
	sentence string
	form     int // 0 "Header: prefix {secret}", 1 a code span with a placeholder, 2 prose
}

// inferPrefixes fills SecurityScheme.Prefix for apiKey schemes sent in a
// header, from what the scheme's description (failing that, the
// document's) says the header value looks like. Only text that shows or
// names the prefix counts; nothing is assumed.
func inferPrefixes(s *Surface) {
	otherHeaderAuth := false
	for _, sc := range s.SecuritySchemes {
		if sc.Type == "http" || sc.Type == "oauth2" || sc.Type == "openIdConnect" {
			otherHeaderAuth = true
		}
	}
	for i := range s.SecuritySchemes {
		sc := &s.SecuritySchemes[i]
		if sc.Type != "apiKey" || !strings.EqualFold(sc.In, "header") || sc.Prefix != "" || sc.ParamName == "" {
			continue
		}
		prefix, ev := prefixFrom(sc.Description, sc.ParamName, false)
		if prefix == "" && s.Description != "" {
			// The document's introduction may show the header, but it may
			// show another scheme's too: only an exact "Name: prefix
			// {secret}" counts, and not a Bearer that a bearer or OAuth
			// scheme of the same document explains.
			prefix, ev = prefixFrom(s.Description, sc.ParamName, true)
			if otherHeaderAuth && strings.EqualFold(strings.TrimSpace(prefix), "bearer") {
				prefix, ev = "", nil
			}
		}
		if prefix != "" {
			sc.Prefix, sc.PrefixEvidence = prefix, ev
		}
	}
}

// prefixFrom extracts the prefix the text gives for header name. strict
// keeps only "Name: prefix {secret}" examples.
func prefixFrom(text, name string, strict bool) (string, []string) {
	if text == "" {
		return "", nil
	}
	var cands []prefixCand
	headerRE := regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9-])` + regexp.QuoteMeta(name) + `\s*:\s*([^\n` + "`" + `"']{1,100})`)
	for _, m := range headerRE.FindAllStringSubmatchIndex(text, 8) {
		val := text[m[2]:m[3]]
		if p, ok := beforePlaceholder(val); ok {
			cands = append(cands, prefixCand{p, sentenceAt(text, m[2]), 0})
		}
	}
	if !strict {
		for _, m := range codeSpanRE.FindAllStringSubmatchIndex(text, 32) {
			a, b := m[2], m[3]
			if a < 0 {
				a, b = m[4], m[5]
			}
			span := text[a:b]
			if k := strings.IndexByte(span, ':'); k > 0 && strings.EqualFold(strings.TrimSpace(span[:k]), name) {
				continue // the header form above has it
			}
			if p, ok := beforePlaceholder(span); ok {
				cands = append(cands, prefixCand{p, sentenceAt(text, a), 1})
			}
		}
		for _, m := range prefixPhraseRE.FindAllStringSubmatchIndex(text, 8) {
			for _, w := range strings.Fields(text[m[2]:m[3]]) {
				if fillerWords[strings.ToLower(strings.Trim(w, "`\"'"))] {
					continue
				}
				wm := prefixWordRE.FindStringSubmatch(w)
				quoted := wm != nil && wm[1] != "" && wm[1] == wm[3]
				if wm != nil && (quoted || wm[4] != "") && !strings.EqualFold(wm[2], name) {
					p := wm[2]
					if !strings.HasSuffix(p, "=") {
						p += " "
					}
					cands = append(cands, prefixCand{p, sentenceAt(text, m[0]), 2})
				}
				break
			}
		}
	}
	// Exact examples decide; prose corroborates or stands in for them. Two
	// different prefixes of the same form cancel out: no guess.
	for form := 0; form <= 2; form++ {
		chosen := ""
		for _, c := range cands {
			if c.form != form {
				continue
			}
			if chosen != "" && chosen != c.prefix {
				return "", nil
			}
			chosen = c.prefix
		}
		if chosen == "" {
			continue
		}
		var ev []string
		for _, c := range cands {
			if c.prefix == chosen && !slices.Contains(ev, c.sentence) {
				ev = append(ev, c.sentence)
			}
		}
		return chosen, ev
	}
	return "", nil
}

// beforePlaceholder returns the text before the first placeholder of an
// example value, when it has the shape of a prefix.
func beforePlaceholder(val string) (string, bool) {
	loc := placeholderRE.FindStringIndex(val)
	if loc == nil || loc[0] == 0 {
		return "", false
	}
	p := strings.TrimLeft(val[:loc[0]], " \t")
	if !prefixShapeRE.MatchString(p) {
		return "", false
	}
	return p, true
}

// sentenceAt quotes the sentence (or line) around byte offset i.
func sentenceAt(text string, i int) string {
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		end = len(text)
	} else {
		end += i
	}
	line := text[start:end]
	// Narrow a long line to the sentence holding i.
	if len(line) > 240 {
		rel := i - start
		if k := strings.LastIndex(line[:rel], ". "); k >= 0 {
			line, rel = line[k+2:], rel-k-2
		}
		if k := strings.Index(line[rel:], ". "); k >= 0 {
			line = line[:rel+k+1]
		}
		if len(line) > 240 {
			line = line[:240] + "…"
		}
	}
	return strings.TrimSpace(strings.TrimLeft(line, " >*-#"))
}

package prose

import (
	"slices"
	"strings"
	"unicode"
)

// Hit is one section matching a search.
type Hit struct {
	Section string   `json:"section"`
	Heading string   `json:"heading"`
	Path    []string `json:"path"`
	Line    int      `json:"line"`    // line of the snippet's match
	Snippet string   `json:"snippet"` // a short quote around the first match
	Score   int      `json:"score"`
}

const (
	defaultHits   = 10
	maxHits       = 100
	maxTerms      = 16
	maxTermBytes  = 100
	termCountCap  = 50 // one term repeated all over a section counts no more
	headingWeight = 20
	termWeight    = 1000 // matching more distinct terms always ranks higher
	searchBefore  = 60   // snippet bytes before the match
	searchAfter   = 120  // and after it
)

// Search finds the sections that best match the query's words (ASCII
// case-insensitive substring match; headings weigh more), best first,
// ties in document order, at most limit hits (10 if limit ≤ 0, never over
// 100). It is deterministic: the agent's "search the docs" tool calls it.
func (d *Doc) Search(query string, limit int) []Hit {
	if limit <= 0 {
		limit = defaultHits
	}
	limit = min(limit, maxHits)
	terms := searchTerms(query)
	if len(terms) == 0 {
		return []Hit{}
	}
	type scored struct {
		i, score, at, termLen int
	}
	var found []scored
	for i := range d.Sections {
		s := &d.Sections[i]
		heading, text := asciiLower(s.Heading), asciiLower(s.Text)
		score, matched, at, termLen := 0, 0, -1, 0
		for _, t := range terms {
			hc := min(strings.Count(heading, t), termCountCap)
			tc := min(strings.Count(text, t), termCountCap)
			if hc+tc == 0 {
				continue
			}
			matched++
			score += hc*headingWeight + tc
			if j := strings.Index(text, t); j >= 0 && (at < 0 || j < at) {
				at, termLen = j, len(t)
			}
		}
		if matched > 0 {
			found = append(found, scored{i, matched*termWeight + score, at, termLen})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return b.score - a.score })
	hits := []Hit{}
	for _, f := range found[:min(len(found), limit)] {
		s := &d.Sections[f.i]
		h := Hit{Section: s.ID, Heading: s.Heading, Path: s.Path, Line: s.Start, Score: f.score}
		if f.at >= 0 {
			h.Snippet = quoteAround(s.Text, f.at, f.at+f.termLen, searchBefore, searchAfter)
			if l := lineOf(s.marks, f.at); l > 0 {
				h.Line = l
			}
		} else {
			h.Snippet = quoteAround(s.Text, 0, 0, searchBefore, searchAfter)
		}
		hits = append(hits, h)
	}
	return hits
}

// Section returns the section with the given ID.
func (d *Doc) Section(id string) (Section, bool) {
	for _, s := range d.Sections {
		if s.ID == id {
			return s, true
		}
	}
	return Section{}, false
}

func searchTerms(q string) []string {
	var terms []string
	for _, t := range strings.FieldsFunc(asciiLower(q), func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(",;\"'`()[]", r)
	}) {
		if len(t) > maxTermBytes || slices.Contains(terms, t) {
			continue
		}
		terms = append(terms, t)
		if len(terms) == maxTerms {
			break
		}
	}
	return terms
}

// asciiLower lower-cases ASCII letters only, so offsets in the result are
// offsets in s.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

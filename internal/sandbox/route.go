package sandbox

import (
	"net/url"
	"sort"
	"strings"
)

// segment is one "/"-separated piece of a path template: a literal, a
// whole-segment parameter ("{id}") or a parameter with literal text around
// it ("{id}.json", "v{version}").
type segment struct {
	lit            string // the literal, when param is ""
	param          string
	prefix, suffix string
}

// rank orders segments by specificity: a literal beats a mixed segment,
// which beats a bare parameter.
func (s segment) rank() int {
	switch {
	case s.param == "":
		return 2
	case s.prefix != "" || s.suffix != "":
		return 1
	default:
		return 0
	}
}

// shape is the segment with its parameter name erased, so /a/{x}/b and
// /a/{id}/b compare equal when looking for a child's parent list.
func (s segment) shape() string {
	if s.param == "" {
		return s.lit
	}
	return s.prefix + "{}" + s.suffix
}

// match reports whether one request segment (already unescaped) fits, and
// the parameter's value.
func (s segment) match(v string) (string, bool) {
	if s.param == "" {
		return "", v == s.lit
	}
	if len(v) <= len(s.prefix)+len(s.suffix) || !strings.HasPrefix(v, s.prefix) || !strings.HasSuffix(v, s.suffix) {
		return "", false
	}
	return v[len(s.prefix) : len(v)-len(s.suffix)], true
}

// parseTemplate splits a path template. A query part (docs that write
// "/things?list=true" as a path) is not part of routing.
func parseTemplate(p string) []segment {
	p, _, _ = strings.Cut(p, "?")
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	segs := make([]segment, len(parts))
	for i, part := range parts {
		open := strings.IndexByte(part, '{')
		end := strings.LastIndexByte(part, '}')
		if open < 0 || end < open {
			segs[i] = segment{lit: part}
			continue
		}
		segs[i] = segment{param: part[open+1 : end], prefix: part[:open], suffix: part[end+1:]}
	}
	return segs
}

func shapeKey(segs []segment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.shape()
	}
	return "/" + strings.Join(parts, "/")
}

// splitRequestPath splits an escaped request path into unescaped segments;
// ok is false when a segment does not unescape.
func splitRequestPath(escaped string) ([]string, bool) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return nil, true
	}
	parts := strings.Split(escaped, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// pathEntry is one path template with its GET route (nil when the doc
// declares only other methods there).
type pathEntry struct {
	template string
	segs     []segment
	get      *route
}

// router finds the most specific template for a request path, so
// /users/me is never shadowed by /users/{id}, whatever the doc's order.
type router struct {
	byLen map[int][]*pathEntry
}

func newRouter(entries []*pathEntry) *router {
	r := &router{byLen: map[int][]*pathEntry{}}
	for _, e := range entries {
		r.byLen[len(e.segs)] = append(r.byLen[len(e.segs)], e)
	}
	for _, es := range r.byLen {
		// Most specific first; ties in template order so the choice is
		// stable.
		sort.SliceStable(es, func(i, j int) bool {
			if c := compareSpecificity(es[i].segs, es[j].segs); c != 0 {
				return c > 0
			}
			return es[i].template < es[j].template
		})
	}
	return r
}

// compareSpecificity compares two templates of equal length segment by
// segment from the left: the first more specific segment wins.
func compareSpecificity(a, b []segment) int {
	for i := range a {
		if ra, rb := a[i].rank(), b[i].rank(); ra != rb {
			return ra - rb
		}
	}
	return 0
}

// match returns the entry and the parameter values by segment index.
func (r *router) match(parts []string) (*pathEntry, map[int]string) {
	for _, e := range r.byLen[len(parts)] {
		vals := map[int]string{}
		ok := true
		for i, s := range e.segs {
			v, m := s.match(parts[i])
			if !m {
				ok = false
				break
			}
			if s.param != "" {
				vals[i] = v
			}
		}
		if ok {
			return e, vals
		}
	}
	return nil, nil
}

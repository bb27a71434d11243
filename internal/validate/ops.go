package validate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// checkOperations maps every stream's request to the documented operation
// it reads and fails the streams whose request the doc does not have. The
// request path is the spec's base URL path plus the stream's path, taken
// relative to the doc's server path, the way the sandbox (and the vendor)
// serves it.
func (v *validation) checkOperations(sb *sandbox.Sandbox) {
	basePath := sb.BasePath()
	served := sb.Operations() // the GET operations the sandbox serves
	for _, si := range v.streams {
		full := v.baseURL.EscapedPath() + "/" + strings.TrimPrefix(si.st.Request.Path, "/")
		full, _, _ = strings.Cut(full, "?")
		rel, ok := cutBase(full, basePath)
		if !ok {
			si.opErr = fmt.Sprintf("stream %s requests %s %s, which is not under the doc's server path %s; fix connection.base_url's path or the stream's request.path",
				si.name(), si.method, full, basePath)
			continue
		}
		var candidates []*apisurface.Operation
		switch {
		case si.method == "GET":
			for _, o := range served {
				if op := v.operation("GET", o.Path); op != nil {
					candidates = append(candidates, op)
				}
			}
		case si.method == "POST" && si.st.ReadOnly:
			for i := range v.surface.Operations {
				if op := &v.surface.Operations[i]; op.Method == "POST" {
					candidates = append(candidates, op)
				}
			}
		default:
			si.opErr = fmt.Sprintf("stream %s uses %s; only GET, or POST with read_only: true, reads data", si.name(), si.method)
			continue
		}
		best, bestScore := (*apisurface.Operation)(nil), -1
		for _, op := range candidates {
			if s, ok := matchPath(rel, op.Path); ok && s > bestScore {
				best, bestScore = op, s
			}
		}
		if best == nil {
			si.opErr = fmt.Sprintf("stream %s requests %s %s (%s relative to the doc's server path), which no documented %s operation has; use a path the doc lists",
				si.name(), si.method, si.st.Request.Path, rel, si.method)
			if near := v.nearest(rel); near != "" {
				si.opErr += "; the closest is " + near
			}
			continue
		}
		si.op, si.opPath = best, best.Path
	}
	for _, si := range v.streams {
		if si.opErr != "" {
			v.add(Check{ID: CheckOperations, Stream: si.name(), Status: StatusFail,
				Summary: "the stream's request is not a documented read operation", Evidence: []string{si.opErr}})
			continue
		}
		ev := []string{fmt.Sprintf("%s %s reads %s %s", si.method, si.st.Request.Path, si.op.Method, si.opPath)}
		if si.op.Deprecated {
			ev = append(ev, fmt.Sprintf("%s %s is deprecated in the doc", si.op.Method, si.opPath))
		}
		v.add(Check{ID: CheckOperations, Stream: si.name(), Status: StatusPass,
			Summary: fmt.Sprintf("reads the documented %s %s", si.op.Method, si.opPath), Evidence: ev})
	}
}

// operation finds the surface's operation by method and template.
func (v *validation) operation(method, path string) *apisurface.Operation {
	for i := range v.surface.Operations {
		if op := &v.surface.Operations[i]; op.Method == method && op.Path == path {
			return op
		}
	}
	return nil
}

// nearest names the documented GET path sharing the longest literal
// prefix with rel, as a hint.
func (v *validation) nearest(rel string) string {
	best, bestN := "", 0
	rs := splitSegs(rel)
	for _, op := range v.surface.Operations {
		if op.Method != "GET" {
			continue
		}
		n := 0
		for i, s := range splitSegs(op.Path) {
			if i >= len(rs) || rs[i] != s {
				break
			}
			n++
		}
		if n > bestN {
			best, bestN = "GET "+op.Path, n
		}
	}
	return best
}

// cutBase is rel of an escaped request path under the server's base path,
// as the sandbox cuts it.
func cutBase(escaped, base string) (string, bool) {
	if base == "" {
		return escaped, true
	}
	if escaped == base {
		return "/", true
	}
	rest, ok := strings.CutPrefix(escaped, base+"/")
	return "/" + rest, ok
}

func splitSegs(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// matchPath says whether a stream's path template (with {alias.field} and
// {config.x} references) requests the doc's template op, scoring literal
// agreement so that /apps/{a.id}/keys prefers /apps/{id}/keys over
// /apps/{id}/{sub}.
func matchPath(spec, op string) (int, bool) {
	ss, os := splitSegs(spec), splitSegs(op)
	if len(ss) != len(os) {
		return 0, false
	}
	score := 0
	for i := range ss {
		s, o := ss[i], os[i]
		sT, oT := strings.Contains(s, "{"), strings.Contains(o, "{")
		switch {
		case !sT && !oT:
			if s != o {
				return 0, false
			}
			score += 3
		case !sT && oT:
			// A fixed value where the doc has a parameter.
			if !segRe(o).MatchString(s) {
				return 0, false
			}
			score++
		case sT && oT:
			if !segRe(o).MatchString(templateRe.ReplaceAllString(s, "x")) {
				return 0, false
			}
			score += 2
		default:
			// A templated value ({config.version}) where the doc has a
			// literal: only the run can tell; accept it, least preferred.
		}
	}
	return score, true
}

// segRe matches one path segment of a doc template: each {param} is one
// or more characters.
func segRe(seg string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rest := seg
	for {
		i := strings.Index(rest, "{")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(".+")
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

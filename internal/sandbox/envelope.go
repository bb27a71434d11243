package sandbox

import (
	"github.com/spindlehq/spindle/internal/names"
	"net/http"
	"slices"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Success-flag envelopes ({"ok": true, ...}) as the surface infers them.
// RPC-style vendors answer every call with the flag, and many answer
// errors in band: HTTP 200 with the flag false. The sandbox does the
// same, so an integration that reads a 200 as success without checking
// the flag fails its validation instead of production.

// buildEnvelopes gives each route the success flag its responses carry:
// a list its inferred one; any other route the document's (the first
// list's), when its own response has that flag too.
func (sb *Sandbox) buildEnvelopes() {
	for _, l := range sb.lists {
		if op := l.route.op; op.List != nil && op.List.Envelope != nil && op.List.Envelope.OKField != "" {
			e := op.List.Envelope
			l.route.env = &envelope{ok: splitPath(e.OKField), errField: splitPath(e.ErrorField), inBand: e.InBand}
			if r := op.Response; r != nil && len(r.Properties) == 0 {
				// A success response documented as a oneOf of the
				// success and the error shape: the error shape is the
				// alternative without the records.
				for _, alt := range r.OneOf {
					if alt != nil && alt.At(l.recordsPath) == nil && hasFlag(alt, l.route.env.ok) {
						l.route.env.errShape = mergeAlt(r, alt)
						break
					}
				}
			}
			if sb.env == nil {
				sb.env = l.route.env
			}
		}
	}
	if sb.env == nil {
		return
	}
	for _, rt := range sb.routes {
		if rt.env == nil && rt.role != RoleList && hasFlag(rt.op.Response, sb.env.ok) {
			rt.env = sb.env
		}
	}
}

// hasFlag says whether s has a boolean at path.
func hasFlag(s *apisurface.Schema, path []string) bool {
	f := s.At(path)
	return f != nil && f.Type == "boolean"
}

// envOf is the envelope of op's route, or the document's for a request
// that matched no operation (op nil).
func (sb *Sandbox) envOf(op *apisurface.Operation) *envelope {
	if op == nil || sb.env == nil {
		return sb.env // no list has a flag: no route has one either
	}
	for _, rt := range sb.routes {
		if rt.op == op {
			return rt.env
		}
	}
	return nil
}

// markOK sets the flag of a success body to true: generated from a
// schema without an enum, it would otherwise be random.
func (e *envelope) markOK(body any) any {
	if e == nil {
		return body
	}
	if _, ok := body.(*object); !ok {
		return body
	}
	return setPath(body, e.ok, true)
}

// inBandStatus is the status an error is answered with: 200 on an
// in-band API, for the client errors it answers in the body; rate limits
// and server errors keep their HTTP status, as such vendors do.
func (e *envelope) inBandStatus(status int) int {
	if e == nil || !e.inBand || status < 400 || status >= 500 || status == http.StatusTooManyRequests {
		return status
	}
	return http.StatusOK
}

// markError sets an error body's flag to false and its error field to
// code when the error schema has one: the generated body may have left
// them random or out.
func (e *envelope) markError(body any, s *apisurface.Schema, code string) any {
	if e == nil {
		return body
	}
	if _, ok := body.(*object); !ok {
		return body
	}
	body = setPath(body, e.ok, false)
	if len(e.errField) > 0 {
		if f := s.At(e.errField); f == nil || f.Type == "string" || f.Type == "" {
			body = setPath(body, e.errField, errorCodeFor(f, code))
		}
	}
	return body
}

// codeWords are the words by which vendors' error codes name each of the
// sandbox's error situations, to pick the closest value of a documented
// enum of codes ("not_authed", "invalid_auth", "missing_scope").
var codeWords = map[string][]string{
	"unauthorized":       {"not", "authed", "unauthenticated", "unauthorized", "authentication", "required", "missing", "no", "auth", "login", "credentials"},
	"forbidden":          {"invalid", "auth", "token", "credential", "credentials", "key", "forbidden", "denied", "bad", "revoked", "expired"},
	"insufficient_scope": {"scope", "scopes", "permission", "permissions", "insufficient", "missing", "forbidden", "denied", "access"},
	"not_found":          {"not", "found", "notfound", "unknown", "no", "such", "missing"},
	"invalid_request":    {"invalid", "bad", "request", "argument", "arg", "args", "param", "parameter", "cursor", "malformed"},
	"method_not_allowed": {"method", "not", "allowed", "unknown", "unsupported"},
	"rate_limited":       {"rate", "limit", "limited", "ratelimited", "throttled", "too", "many", "requests"},
	"server_error":       {"internal", "server", "error", "unavailable", "fatal"},
}

// errorCodeFor is code as the error field's schema allows it: the enum
// value sharing the most words with the situation (the first on a tie),
// code itself when the field has no enum or nothing matches.
func errorCodeFor(s *apisurface.Schema, code string) string {
	if s == nil || len(s.Enum) == 0 {
		return code
	}
	want := codeWords[code]
	best, bestN := "", 0
	for _, e := range s.Enum {
		v, ok := e.(string)
		if !ok {
			continue
		}
		if v == code {
			return v
		}
		n := 0
		for _, w := range strings.FieldsFunc(strings.ToLower(names.Snake(v)), func(r rune) bool { return r == '_' || r == '.' || r == ':' || r == '/' }) {
			if slices.Contains(want, w) {
				n++
			}
		}
		if n > bestN {
			best, bestN = v, n
		}
	}
	if best == "" {
		for _, e := range s.Enum {
			if v, ok := e.(string); ok {
				return v // conform to the doc, whatever the situation
			}
		}
		return code
	}
	return best
}

package apisurface

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// okFlagNames are boolean fields that conventionally say a call
// succeeded, normalised.
var okFlagNames = map[string]bool{"ok": true, "success": true, "succeeded": true, "successful": true}

// errorFieldNames are the fields, normalised and in order of preference,
// where an error body says what went wrong; an object under one of them
// is looked into for the same names.
var errorFieldNames = []string{"error", "errorcode", "errormessage", "message", "errordescription", "description", "msg", "detail", "reason", "code"}

// inBandPhrases, found in a sentence about errors, say errors come back
// with HTTP 200.
var inBandPhrases = []string{"http 200", "status 200", "status code 200", "200 ok", "with a 200", "with 200"}

// inferEnvelope finds the success flag an operation's responses carry:
// a top-level boolean that is true on success (its enum says so, or an
// error response carries the same boolean), never a paging flag. docDesc
// is the document's introduction, read for whether errors come back with
// a 2xx status. nil when the responses carry no such flag.
func inferEnvelope(op *Operation, docDesc string) *Envelope {
	r := op.Response
	if !isObject(r) {
		return nil
	}
	// The success schema may itself be a oneOf of a success and an error
	// shape; its alternatives and the documented error responses are
	// where the failure shape is.
	succ := []*Schema{r}
	var fails []*Schema
	if len(r.Properties) == 0 && len(r.OneOf) > 0 {
		succ = succ[:0]
		for _, alt := range r.OneOf {
			if isObject(alt) {
				succ = append(succ, alt)
			}
		}
	}
	codes := make([]string, 0, len(op.ErrorResponses))
	for code := range op.ErrorResponses {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		if s := op.ErrorResponses[code]; isObject(s) {
			fails = append(fails, s)
		}
	}
	for _, p := range topProps(succ) {
		if p.Schema == nil || p.Schema.Type != "boolean" || moreFieldNames[norm(p.Name)] {
			continue
		}
		e := &Envelope{OKField: bodyPath([]string{p.Name})}
		ev := func(format string, a ...any) {
			e.Inference.Evidence = append(e.Inference.Evidence, fmt.Sprintf(format, a...))
		}
		// In a oneOf success schema, the alternative where the flag is
		// false is the error shape answered with the success status.
		inBandAlt := false
		var trueEnum bool
		for _, s := range succ {
			ps := propOf(s, p.Name)
			switch {
			case ps == nil:
			case onlyBool(ps.Enum, true):
				trueEnum = true
			case onlyBool(ps.Enum, false) && len(succ) > 1:
				inBandAlt = true
				fails = append(fails, s)
			}
		}
		var failShape *Schema
		for _, s := range fails {
			if ps := propOf(s, p.Name); ps != nil && ps.Type == "boolean" && !onlyBool(ps.Enum, true) {
				failShape = s
				break
			}
		}
		named := okFlagNames[norm(p.Name)]
		switch {
		case trueEnum && failShape != nil:
			e.Inference.Confidence = 0.92
			ev("boolean %q is always true on success and also present in the error body", p.Name)
		case failShape != nil && named:
			e.Inference.Confidence = 0.85
			ev("boolean %q is present in both the success and the error body", p.Name)
		case trueEnum && named:
			e.Inference.Confidence = 0.75
			ev("boolean %q is always true on success", p.Name)
		case named && slices.Contains(r.Required, p.Name):
			e.Inference.Confidence = 0.6
			ev("required boolean %q conventionally says the call succeeded", p.Name)
		default:
			continue
		}
		if failShape != nil {
			if f := errorField(failShape); f != "" {
				e.ErrorField = f
				ev("the error body says what went wrong in %q", f)
			}
		}
		switch {
		case inBandAlt:
			e.InBand = true
			ev("the success response documents the error shape too (%q false)", p.Name)
		case inBandProse(op.Description, docDesc) != "":
			e.InBand = true
			ev("the docs say errors come back with HTTP 200: %q", inBandProse(op.Description, docDesc))
		case failShape != nil && onlyDefaultErrors(op.ErrorResponses):
			e.InBand = true
			e.Inference.Confidence -= 0.1
			ev("errors are documented only as the default response, with no HTTP error status: assumed to come back with 200")
		}
		e.Inference.Confidence = clamp(e.Inference.Confidence, 0, 0.95)
		return e
	}
	return nil
}

// topProps are the top-level properties of the success shapes, each name
// once, in document order.
func topProps(ss []*Schema) []Property {
	var out []Property
	for _, s := range ss {
		for _, p := range s.Properties {
			if !slices.ContainsFunc(out, func(q Property) bool { return q.Name == p.Name }) {
				out = append(out, p)
			}
		}
	}
	return out
}

func propOf(s *Schema, name string) *Schema {
	if s == nil {
		return nil
	}
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Schema
		}
	}
	return nil
}

// onlyBool says whether enum allows exactly the boolean v.
func onlyBool(enum []any, v bool) bool {
	if len(enum) != 1 {
		return false
	}
	switch t := enum[0].(type) {
	case bool:
		return t == v
	case string:
		return t == strconv.FormatBool(v)
	}
	return false
}

// errorField is the body path of what an error body says went wrong: a
// string under a conventional name, at the top or one object down.
func errorField(s *Schema) string {
	for _, want := range errorFieldNames {
		for _, p := range s.Properties {
			if norm(p.Name) != want || p.Schema == nil {
				continue
			}
			if p.Schema.Type == "string" {
				return bodyPath([]string{p.Name})
			}
			if isObject(p.Schema) {
				for _, inner := range errorFieldNames {
					for _, q := range p.Schema.Properties {
						if norm(q.Name) == inner && q.Schema != nil && q.Schema.Type == "string" {
							return bodyPath([]string{p.Name, q.Name})
						}
					}
				}
			}
		}
	}
	return ""
}

// onlyDefaultErrors says the doc gives error bodies but no HTTP error
// status for them.
func onlyDefaultErrors(m map[string]*Schema) bool {
	if len(m) == 0 {
		return false
	}
	for code := range m {
		if code != "default" {
			return false
		}
	}
	return true
}

// inBandProse returns the sentence of the operation's or the document's
// prose that says errors come back with HTTP 200, "" when none does.
func inBandProse(texts ...string) string {
	for _, t := range texts {
		for _, sent := range strings.FieldsFunc(plainText(t), func(r rune) bool { return r == '.' || r == '\n' || r == ';' }) {
			if !strings.Contains(sent, "error") {
				continue
			}
			for _, ph := range inBandPhrases {
				if strings.Contains(sent, ph) {
					return strings.TrimSpace(sent)
				}
			}
		}
	}
	return ""
}

// fixedQuery is the query parameters a request must carry with the one
// value the doc allows: required, with a single enum value or a default.
func fixedQuery(op *Operation) map[string]string {
	var out map[string]string
	for _, p := range op.Parameters {
		if !strings.EqualFold(p.In, "query") || !p.Required || p.Schema == nil {
			continue
		}
		var v any
		switch {
		case len(p.Schema.Enum) == 1 && p.Schema.Enum[0] != nil:
			v = p.Schema.Enum[0]
		case p.Schema.Default != nil:
			v = p.Schema.Default
		default:
			continue
		}
		s, ok := scalarText(v)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[p.Name] = s
	}
	return out
}

// scalarText renders an enum or default value as a query value.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int, int64, uint64:
		return fmt.Sprint(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

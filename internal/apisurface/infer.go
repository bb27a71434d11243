package apisurface

import (
	"fmt"
	"strings"
)

// Infer fills in the inferred traits of a loaded surface: list traits
// (records path, paging style, NHI kind, fixed query parameters, a
// success-flag envelope) for every GET operation that returns a
// collection, and the credential prefix of apiKey schemes.
// Deterministic: the same surface always gets the same inferences, and
// running it twice changes nothing. Every rule is generic — names and
// shapes any vendor might use, never one vendor's paths or fields — since
// Spindle is judged on docs it has never seen.
//
// A list whose paging fits no known style gets Style "unknown" and an
// "unsupported-paging" warning: reported, never guessed.
func Infer(s *Surface) {
	if s == nil {
		return
	}
	// Idempotence: the warnings of an earlier run are this run's to redo.
	kept := s.Warnings[:0]
	for _, w := range s.Warnings {
		if w.Code != warnUnsupportedPaging {
			kept = append(kept, w)
		}
	}
	s.Warnings = kept
	sigs := make([]*signals, len(s.Operations))
	for i := range s.Operations {
		op := &s.Operations[i]
		op.List = nil
		if !strings.EqualFold(op.Method, "GET") {
			continue
		}
		op.List, sigs[i] = inferList(op)
		if op.List != nil {
			op.List.Query = fixedQuery(op)
			op.List.Envelope = inferEnvelope(op, s.Description)
		}
	}
	followConventions(s.Operations, sigs)
	for i := range s.Operations {
		op := &s.Operations[i]
		if op.List != nil && op.List.Paging.Style == PageUnknown {
			s.Warnings = append(s.Warnings, Warning{
				Code:     warnUnsupportedPaging,
				Location: op.Method + " " + op.Path,
				Message:  fmt.Sprintf("list pages in no known style: %s", strings.Join(op.List.Paging.Inference.Evidence, "; ")),
			})
		}
	}
	inferPrefixes(s)
}

const warnUnsupportedPaging = "unsupported-paging"

// inferList decides whether op returns a collection and, if so, how to
// read it.
func inferList(op *Operation) (*ListTraits, *signals) {
	g := gatherSignals(op)
	sh := shapeOf(op)
	keys, records, rconf, ok := findRecords(op, sh, g.any())
	if !ok {
		return nil, nil
	}
	lt := &ListTraits{RecordsPath: bodyPath(keys), Records: records, RecordsConf: rconf}
	lt.Paging = inferPaging(g)
	lt.Kind, lt.KindConf = inferKind(op, keys, records)
	return lt, g
}

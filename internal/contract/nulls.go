package contract

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/store"
)

// streamSpec is the spec's stream named name (nil without a spec or such
// a stream).
func streamSpec(sp *integration.Spec, name string) *integration.Stream {
	if sp == nil {
		return nil
	}
	for i := range sp.Streams {
		if sp.Streams[i].Name == name {
			return &sp.Streams[i]
		}
	}
	return nil
}

// nullFields lists the fields whose null rate is judged: the fields the
// stream's map sets (when the spec is known) and every field the run
// counted (attribute keys such as "attributes.email" are only known from
// the counts), sorted. external_id is left out: a record without one
// fails to map, which the mapping check reports.
func nullFields(s store.StreamResult, st *integration.Stream) []string {
	var out []string
	if st != nil {
		for f := range st.Map {
			out = append(out, f)
		}
	}
	for f := range s.Nulls {
		out = append(out, f)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(f string) bool { return f == "external_id" })
}

// required reports whether field of stream must never be null.
func required(b Bounds, stream, field string) bool {
	if field == "external_id" {
		return true
	}
	for _, r := range b.Required {
		if r == field || r == stream+"."+field {
			return true
		}
	}
	return false
}

// nullChecks judges each mapped field's null rate ("nulls.<stream>.<field>"):
// a required field fails at any null; any other fails when its rate rose
// by more than MaxNullRise over the median of its last Window complete
// runs that counted it. A field the vendor stopped sending behind a
// has()/?-guard maps to null without an error; this is where it shows.
func nullChecks(s store.StreamResult, st *integration.Stream, hist []store.Run, b Bounds) []Finding {
	base := "nulls." + s.Stream
	switch {
	case s.Records == 0:
		return []Finding{{ID: base, Stream: s.Stream, Status: Skip,
			Message: fmt.Sprintf("skipped: stream %s stored no records, so its null rates say nothing", s.Stream)}}
	case s.Nulls == nil:
		return []Finding{{ID: base, Stream: s.Stream, Status: Skip,
			Message: fmt.Sprintf("skipped: the run report of stream %s carries no null counts (a runtime that did not count them)", s.Stream)}}
	}
	var out []Finding
	for _, f := range nullFields(s, st) {
		out = append(out, nullCheck(s, st, f, hist, b))
	}
	return out
}

func nullCheck(s store.StreamResult, st *integration.Stream, field string, hist []store.Run, b Bounds) Finding {
	c := Finding{ID: "nulls." + s.Stream + "." + field, Stream: s.Stream}
	n, counted := s.Nulls[field]
	if !counted {
		// The runtime counts every mapped field, zero included; a field
		// missing here was not counted, which is not the same as set.
		c.Status, c.Message = Skip, fmt.Sprintf("skipped: this run did not count nulls of field %s of stream %s", field, s.Stream)
		return c
	}
	rate := float64(n) / float64(s.Records)
	req := required(b, s.Stream, field)
	c.Evidence = map[string]any{"nulls": n, "records": s.Records, "rate": rate}
	if st != nil && st.Map[field] != "" {
		c.Evidence["expression"] = st.Map[field]
	}
	if req {
		c.Evidence["required"] = true
		if n > 0 {
			c.Status = Fail
			c.Message = fmt.Sprintf("required field %s of stream %s is null in %d of %d records%s", field, s.Stream, n, s.Records, readsHint(st, field))
			return c
		}
	}

	var prev []float64
	var runs []int64
	for _, r := range hist {
		if len(prev) == b.Window {
			break
		}
		for _, rs := range r.Streams {
			if rs.Stream != s.Stream || rs.Outcome != store.Complete || rs.Records == 0 {
				continue
			}
			if hn, ok := rs.Nulls[field]; ok {
				prev = append(prev, float64(hn)/float64(rs.Records))
				runs = append(runs, r.ID)
			}
		}
	}
	if len(prev) < b.MinHistory {
		if req {
			c.Status, c.Message = Pass, fmt.Sprintf("required field %s of stream %s is set in every record", field, s.Stream)
			return c
		}
		c.Status = Skip
		c.Message = fmt.Sprintf("skipped: %d previous complete run(s) of stream %s counted nulls of field %s, %d needed to judge its null rate", len(prev), s.Stream, field, b.MinHistory)
		c.Evidence["history"], c.Evidence["min_history"] = len(prev), b.MinHistory
		return c
	}
	med := medianFloat(prev)
	c.Evidence["median_rate"], c.Evidence["history_rates"], c.Evidence["history_runs"], c.Evidence["max_null_rise"] = med, prev, runs, b.MaxNullRise
	if rate-med > b.MaxNullRise {
		c.Status = Fail
		c.Message = fmt.Sprintf("field %s of stream %s is null in %s of records (%d of %d), against a median of %s over its last %d complete runs: the vendor may have renamed or dropped what the mapping reads%s",
			field, s.Stream, pct(rate), n, s.Records, pct(med), len(prev), readsHint(st, field))
		return c
	}
	c.Status = Pass
	c.Message = fmt.Sprintf("field %s of stream %s is null in %s of records, median %s over its last %d complete runs", field, s.Stream, pct(rate), pct(med), len(prev))
	return c
}

// readsHint quotes the field's mapping expression, which is where a fix
// starts.
func readsHint(st *integration.Stream, field string) string {
	if st == nil {
		return ""
	}
	top, _, _ := strings.Cut(field, ".")
	if x := st.Map[top]; x != "" {
		return fmt.Sprintf(" (map.%s: %s)", top, x)
	}
	return ""
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

func medianFloat(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

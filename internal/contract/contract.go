// Package contract runs the live contract checks of an integration after a
// sync (issue 6): did the vendor refuse or fail requests, did records fail
// to map, did a stream shrink or balloon against its own history, did a
// mapped field silently turn null, has a successful sync happened recently.
// Check is a pure function of the run's report, the released spec and the
// previous runs; Record and Latest keep the results (migrations 00006 and
// 00011) so that `spindle integration list` shows the health the checks
// concluded.
package contract

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

// Status is one check's verdict.
type Status string

// Check verdicts. Skip means the check could not be judged (no history, no
// data), with the reason in the message; it never invents a verdict.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Health is what the checks conclude together.
type Health string

// Health values: failing if any check failed, degraded if any warned,
// healthy otherwise — except that a result whose only failed check is the
// staleness check is stale: nothing the vendor sent is wrong, but no sync
// has succeeded within the cadence (a warning, alerted apart from failing).
const (
	Healthy  Health = "healthy"
	Degraded Health = "degraded"
	Stale    Health = "stale"
	Failing  Health = "failing"
)

// Valid reports whether h is one of the four health values.
func (h Health) Valid() bool {
	switch h {
	case Healthy, Degraded, Stale, Failing:
		return true
	}
	return false
}

// StalenessID is the id of the staleness check.
const StalenessID = "staleness"

// Defaults of Bounds.
const (
	DefaultMaxDrop     = 0.5
	DefaultMaxGrowth   = 10.0
	DefaultMinHistory  = 2
	DefaultWindow      = 5
	DefaultStaleAfter  = 48 * time.Hour
	DefaultMaxNullRise = 0.5
)

// Bounds configure the checks. Zero values take the defaults.
type Bounds struct {
	// MaxDrop: a complete stream with fewer than (1-MaxDrop) × the median
	// of its last Window complete runs fails (0.5: losing more than half).
	MaxDrop float64
	// MaxGrowth: more than MaxGrowth × the median warns (10: tenfold).
	MaxGrowth float64
	// MinHistory is how many previous complete runs of a stream the count
	// check needs; with fewer it is skipped.
	MinHistory int
	// Window is how many previous complete runs the median is taken over.
	Window int
	// StaleAfter: the last successful (ok) sync may be at most this old.
	StaleAfter time.Duration
	// MaxNullRise: a mapped field whose null rate rose by more than this
	// (a fraction of the records) over the median of its last Window
	// complete runs fails (0.5: mostly set before, mostly null now — what a
	// vendor renaming a field does to a guarded mapping). MinHistory
	// applies as for counts.
	MaxNullRise float64
	// Required names mapped fields that must never be null: "field" for
	// every stream, "stream.field" for one ("attributes.email" is an
	// attribute of every stream). Any null fails, with or without history.
	// external_id is always required (the runtime refuses a record without
	// it).
	Required []string
}

func (b Bounds) withDefaults() Bounds {
	if b.MaxDrop <= 0 || b.MaxDrop >= 1 {
		b.MaxDrop = DefaultMaxDrop
	}
	if b.MaxGrowth <= 1 {
		b.MaxGrowth = DefaultMaxGrowth
	}
	if b.MinHistory <= 0 {
		b.MinHistory = DefaultMinHistory
	}
	if b.Window <= 0 {
		b.Window = DefaultWindow
	}
	if b.Window < b.MinHistory {
		b.Window = b.MinHistory
	}
	if b.StaleAfter <= 0 {
		b.StaleAfter = DefaultStaleAfter
	}
	if b.MaxNullRise <= 0 || b.MaxNullRise >= 1 {
		b.MaxNullRise = DefaultMaxNullRise
	}
	return b
}

// Input is what Check judges.
type Input struct {
	Integration string
	// RunID is the checked run's id in the inventory (0: not stored).
	RunID int64
	// Report is the run's report; nil means the run did not happen (it was
	// aborted), which fails.
	Report *runtime.Report
	// Spec is the released spec the run executed (nil: checks that need it
	// fall back to the report's streams).
	Spec *integration.Spec
	// History is the integration's previous runs, newest first, without
	// the checked run (Check drops a run with RunID if present).
	History []store.Run
	Bounds  Bounds
	// Now is the check's time (zero: time.Now).
	Now time.Time
}

// Finding is one check's result. ID is stable ("auth:keys", "count:keys",
// "nulls.keys.owner", "staleness"): alerts and the audit log name checks
// by it.
type Finding struct {
	ID       string         `json:"id"`
	Stream   string         `json:"stream,omitempty"`
	Status   Status         `json:"status"`
	Message  string         `json:"message"`
	Evidence map[string]any `json:"evidence,omitempty"`
}

// Result is every check of one run, and the health they conclude.
type Result struct {
	Integration string    `json:"integration"`
	RunID       int64     `json:"run_id"`
	CheckedAt   time.Time `json:"checked_at"`
	Health      Health    `json:"health"`
	Checks      []Finding `json:"checks"`
}

// Failing lists the ids of the failed checks, in order.
func (r Result) Failing() []string { return r.ids(Fail) }

// Warning lists the ids of the checks that warned, in order.
func (r Result) Warning() []string { return r.ids(Warn) }

func (r Result) ids(s Status) []string {
	out := []string{}
	for _, c := range r.Checks {
		if c.Status == s {
			out = append(out, c.ID)
		}
	}
	return out
}

// HealthOf folds check verdicts into a health: failing if a check failed,
// stale if the only failed check is staleness, degraded if a check warned,
// healthy otherwise.
func HealthOf(checks []Finding) Health {
	h := Healthy
	for _, c := range checks {
		switch c.Status {
		case Fail:
			if c.ID != StalenessID {
				return Failing
			}
			h = Stale
		case Warn:
			if h == Healthy {
				h = Degraded
			}
		}
	}
	return h
}

// prepare applies the defaults and drops the checked run from the history.
func (in Input) prepare() (Bounds, []store.Run, time.Time) {
	b := in.Bounds.withDefaults()
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	hist := make([]store.Run, 0, len(in.History))
	for _, r := range in.History {
		if in.RunID == 0 || r.ID != in.RunID {
			hist = append(hist, r)
		}
	}
	return b, hist, now.UTC()
}

// Check runs every check on in. It reads nothing but in.
func Check(_ context.Context, in Input) Result {
	b, hist, now := in.prepare()
	res := Result{Integration: in.Integration, RunID: in.RunID, CheckedAt: now}
	if in.Report == nil {
		res.Checks = []Finding{{ID: "run", Status: Fail, Message: "the run was aborted: no stream reported anything"}}
		res.Checks = append(res.Checks, staleness(nil, hist, b, now))
		res.Health = HealthOf(res.Checks)
		return res
	}
	emits := emittingStreams(in.Spec)
	for _, s := range in.Report.Streams {
		res.Checks = append(res.Checks, authCheck(s), httpCheck(s), mappingCheck(s))
		if emits == nil || emits[s.Stream] {
			res.Checks = append(res.Checks, countCheck(s, hist, b))
			res.Checks = append(res.Checks, nullChecks(s, streamSpec(in.Spec, s.Stream), hist, b)...)
		}
	}
	res.Checks = append(res.Checks, missingStreams(in.Spec, in.Report)...)
	res.Checks = append(res.Checks, staleness(in.Report, hist, b, now))
	res.Health = HealthOf(res.Checks)
	return res
}

// Staleness judges an integration between syncs (a scheduler's periodic
// pass, when no run was due or none ran): ok is true, with a stale Result
// holding the one staleness finding, when the last successful sync in
// in.History is older than StaleAfter. A fresh integration, or one that
// never succeeded (its sync's own checks said so), gives ok false: there
// is nothing to record, and nothing must resolve the alerts of its last
// sync. in.Report and in.Spec are not read.
func Staleness(_ context.Context, in Input) (r Result, ok bool) {
	b, hist, now := in.prepare()
	c := staleness(nil, hist, b, now)
	if c.Status != Fail {
		return Result{}, false
	}
	r.RunID = in.RunID
	if r.RunID == 0 && len(hist) > 0 {
		// The last sync, so the result reads as its health (lifecycle
		// matches the recorded check with the last run).
		r.RunID = hist[0].ID
	}
	r.Integration, r.CheckedAt, r.Checks = in.Integration, now, []Finding{c}
	r.Health = HealthOf(r.Checks)
	return r, true
}

// emittingStreams is the set of the spec's streams that produce records
// (nil without a spec: every reported stream counts).
func emittingStreams(sp *integration.Spec) map[string]bool {
	if sp == nil {
		return nil
	}
	out := map[string]bool{}
	for _, s := range sp.Streams {
		if s.Emits != "" {
			out[s.Name] = true
		}
	}
	return out
}

// missingStreams fails every spec stream the report does not mention: it
// was never run, so its part of the inventory is silently old.
func missingStreams(sp *integration.Spec, rep *runtime.Report) []Finding {
	if sp == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range rep.Streams {
		seen[s.Stream] = true
	}
	var out []Finding
	for _, s := range sp.Streams {
		if !seen[s.Name] {
			out = append(out, Finding{ID: "ran:" + s.Name, Stream: s.Name, Status: Fail,
				Message: fmt.Sprintf("stream %s of the released spec did not run", s.Name)})
		}
	}
	return out
}

var authStatus = regexp.MustCompile(`answered (401|403)\b`)

func authCheck(s store.StreamResult) Finding {
	c := Finding{ID: "auth:" + s.Stream, Stream: s.Stream, Status: Pass, Message: "the credential was accepted"}
	var hits []string
	for _, e := range s.Errors {
		if authStatus.MatchString(e) {
			hits = append(hits, e)
		}
	}
	switch {
	case s.Outcome == store.Denied:
		c.Status, c.Message = Fail, fmt.Sprintf("the vendor refused stream %s (denied): its entities are unverified", s.Stream)
	case len(hits) > 0:
		c.Status, c.Message = Fail, fmt.Sprintf("the vendor answered 401/403 on stream %s %d time(s)", s.Stream, len(hits))
	default:
		return c
	}
	c.Evidence = map[string]any{"outcome": string(s.Outcome), "auth_errors": len(hits)}
	if e := firstOf(hits, s.Errors); e != "" {
		c.Evidence["first_error"] = e
	}
	return c
}

func httpCheck(s store.StreamResult) Finding {
	c := Finding{ID: "http:" + s.Stream, Stream: s.Stream, Evidence: map[string]any{"outcome": string(s.Outcome), "requests": s.Requests, "retries": s.Retries}}
	switch s.Outcome {
	case store.Complete:
		c.Status, c.Message = Pass, fmt.Sprintf("stream %s completed", s.Stream)
	case store.Partial:
		c.Status, c.Message = Warn, fmt.Sprintf("stream %s stopped early (partial)", s.Stream)
	case store.Denied:
		c.Status, c.Message = Skip, "skipped: the stream was denied (see its auth check)"
	default:
		c.Status, c.Message = Fail, fmt.Sprintf("stream %s failed", s.Stream)
	}
	if s.StopReason != "" {
		c.Evidence["stop_reason"] = s.StopReason
	}
	if len(s.Errors) > 0 && c.Status != Pass {
		c.Evidence["first_error"] = s.Errors[0]
	}
	return c
}

// mappingErr matches runtime.MappingError and records the store refused.
var (
	mappingErr = regexp.MustCompile(`^stream \S+, page \d+, record \d+: `)
	moreErrs   = regexp.MustCompile(`^… and (\d+) more errors$`)
)

func mappingCheck(s store.StreamResult) Finding {
	c := Finding{ID: "mapping:" + s.Stream, Stream: s.Stream, Status: Pass, Message: "every record mapped"}
	n, more, first := 0, 0, ""
	for _, e := range s.Errors {
		if mappingErr.MatchString(e) {
			if n == 0 {
				first = e
			}
			n++
		} else if m := moreErrs.FindStringSubmatch(e); m != nil {
			more, _ = strconv.Atoi(m[1])
		}
	}
	if n == 0 {
		return c
	}
	c.Evidence = map[string]any{"mapping_errors": n, "records": s.Records, "first_error": first}
	if more > 0 {
		// The report keeps the first errors only; the rest are of
		// unknown kind, so the count is a lower bound.
		c.Evidence["more_errors_of_any_kind"] = more
	}
	c.Status = Warn
	c.Message = fmt.Sprintf("%d record(s) of stream %s did not map and were not stored", n, s.Stream)
	if s.Records == 0 {
		c.Status = Fail
		c.Message = fmt.Sprintf("no record of stream %s mapped (%d mapping errors)", s.Stream, n)
	}
	return c
}

func firstOf(a, b []string) string {
	if len(a) > 0 {
		return a[0]
	}
	if len(b) > 0 {
		return b[0]
	}
	return ""
}

// countCheck compares a complete stream's record count with the median of
// its last Window complete runs.
func countCheck(s store.StreamResult, hist []store.Run, b Bounds) Finding {
	c := Finding{ID: "count:" + s.Stream, Stream: s.Stream}
	if s.Outcome != store.Complete {
		c.Status, c.Message = Skip, fmt.Sprintf("skipped: stream %s did not complete, so its count says nothing", s.Stream)
		return c
	}
	var prev []int
	var runs []int64
	for _, r := range hist {
		if len(prev) == b.Window {
			break
		}
		for _, rs := range r.Streams {
			if rs.Stream == s.Stream && rs.Outcome == store.Complete {
				prev = append(prev, rs.Records)
				runs = append(runs, r.ID)
			}
		}
	}
	if len(prev) < b.MinHistory {
		c.Status = Skip
		c.Message = fmt.Sprintf("skipped: %d previous complete run(s) of stream %s, %d needed to judge its count", len(prev), s.Stream, b.MinHistory)
		c.Evidence = map[string]any{"records": s.Records, "history": len(prev), "min_history": b.MinHistory}
		return c
	}
	med := median(prev)
	c.Evidence = map[string]any{"records": s.Records, "median": med, "history": prev, "history_runs": runs,
		"max_drop": b.MaxDrop, "max_growth": b.MaxGrowth}
	cur := float64(s.Records)
	switch {
	case med > 0 && cur < med*(1-b.MaxDrop):
		c.Status = Fail
		c.Message = fmt.Sprintf("stream %s dropped to %d records from a median of %g over its last %d complete runs (more than %.0f%% lost)", s.Stream, s.Records, med, len(prev), b.MaxDrop*100)
	case med > 0 && cur > med*b.MaxGrowth:
		c.Status = Warn
		c.Message = fmt.Sprintf("stream %s grew to %d records from a median of %g (more than %gx)", s.Stream, s.Records, med, b.MaxGrowth)
	case med == 0 && s.Records > 0:
		c.Status = Pass
		c.Message = fmt.Sprintf("stream %s has %d records; it had none before", s.Stream, s.Records)
	default:
		c.Status = Pass
		c.Message = fmt.Sprintf("stream %s has %d records, median %g over its last %d complete runs", s.Stream, s.Records, med, len(prev))
	}
	return c
}

func median(xs []int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return float64(s[n/2-1]+s[n/2]) / 2
}

// staleness: the last successful sync — this run if it is ok, else the
// newest ok run of the history — must be within StaleAfter.
func staleness(rep *runtime.Report, hist []store.Run, b Bounds, now time.Time) Finding {
	c := Finding{ID: StalenessID, Evidence: map[string]any{"stale_after": b.StaleAfter.String()}}
	if rep != nil && rep.Status == store.RunOK {
		c.Status, c.Message = Pass, "this sync succeeded"
		c.Evidence["last_success"] = rep.FinishedAt.UTC()
		return c
	}
	for _, r := range hist {
		if r.Status != store.RunOK {
			continue
		}
		c.Evidence["last_success"] = r.FinishedAt.UTC()
		c.Evidence["last_success_run"] = r.ID
		if age := now.Sub(r.FinishedAt); age > b.StaleAfter {
			c.Status = Fail
			c.Message = fmt.Sprintf("no successful sync since %s (%s ago, more than %s)", r.FinishedAt.UTC().Format(time.RFC3339), age.Round(time.Minute), b.StaleAfter)
		} else {
			c.Status = Pass
			c.Message = fmt.Sprintf("the last successful sync (run %d) finished %s ago", r.ID, age.Round(time.Second))
		}
		return c
	}
	c.Status = Warn
	c.Message = "no successful sync recorded yet"
	return c
}

// Summary is a one-line account of r for a terminal.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "contract %s", r.Health)
	n := map[Status]int{}
	for _, c := range r.Checks {
		n[c.Status]++
	}
	fmt.Fprintf(&b, " (%d pass, %d warn, %d fail, %d skipped)", n[Pass], n[Warn], n[Fail], n[Skip])
	return b.String()
}

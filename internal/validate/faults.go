package validate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store"
)

// Fault parameters. They are small on purpose: a full validation of a
// spec with a handful of streams and a fan-out over 25 parents must stay
// within a few seconds, so each fault is injected just often enough to
// prove the behaviour.
const (
	// retryAfter429 is the Retry-After of the injected 429s. The sandbox
	// sends whole seconds, and the runtime pauses the whole host for it,
	// so every hit costs this much wall time: hits429 of them are
	// injected, spread over the run.
	retryAfter429 = time.Second
	hits429       = 1
	// burst5xx: each distinct request URL fails this many attempts with
	// 503 before it succeeds; every request is retried at least once.
	burst5xx = 1
	// urls5xx is about how many distinct URLs the 5xx scenario fails.
	urls5xx = 40
	// slowDelay is added to every response: enough to put real latency
	// under the walks and the fan-out, small enough to keep runs short.
	slowDelay = 25 * time.Millisecond
)

// faultScenarios runs the resilience and drift scenarios side by side,
// each in its own sandbox with the baseline's seed, and judges them
// against the baseline.
func (v *validation) faultScenarios(ctx context.Context, base *scenario, bl *baseline) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, maxParallelScenarios)
	var wg sync.WaitGroup
	spawn := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fn(); err != nil {
				cancel(err)
			}
		}()
	}
	// Every Nth request answers 429, N two thirds of the baseline's
	// requests per hit: hits429 hits fall inside the run, and the retries
	// they add do not bring on another.
	every := max(2, 2*base.requests/(3*hits429)+1)
	// About urls5xx distinct URLs burst: every one of them must be
	// retried, and a fan-out of hundreds of pages does not pay a backoff
	// on each.
	every5xx := max(1, base.requests/urls5xx)
	resilience := []struct {
		id, name string
		fault    sandbox.Fault
	}{
		{CheckRateLimited, Scenario429, sandbox.Fault{Kind: "429", Status: 429, Every: every, RetryAfter: retryAfter429}},
		{CheckServerErrors, Scenario5xx, sandbox.Fault{Kind: "5xx", Status: 503, Burst: burst5xx, Every: every5xx}},
		{CheckSlow, ScenarioSlow, sandbox.Fault{Kind: "slow", Delay: slowDelay, Every: 1}},
	}
	// The resilience scenarios first: the 429 one waits out a Retry-After
	// and is the longest, so everything else should overlap it.
	for _, r := range resilience {
		spawn(func() error {
			v.progress(r.name)
			sc, err := v.runScenario(ctx, r.name, []sandbox.Fault{r.fault}, v.spec)
			if err != nil {
				return err
			}
			v.judgeResilience(r.id, sc, bl, r.fault)
			return nil
		})
	}
	drifted := 0
	for _, si := range v.streams {
		cands, why := v.driftCandidates(bl, si)
		if why != "" {
			if si.emits() {
				v.add(Check{ID: CheckDrift, Stream: si.name(), Status: StatusSkip, Summary: why})
			}
			continue
		}
		drifted++
		spawn(func() error { return v.driftScenario(ctx, bl, si, cands) })
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if drifted == 0 && !v.hasCheck(CheckDrift) {
		v.add(Check{ID: CheckDrift, Status: StatusSkip, Summary: "no stream emits records, so no drift can be judged"})
	}
	return nil
}

func (v *validation) hasCheck(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.card.Checks {
		if c.ID == id {
			return true
		}
	}
	return false
}

// judgeResilience: every stream that was complete in the baseline is
// complete again and fetched every seeded entity.
func (v *validation) judgeResilience(id string, sc *scenario, bl *baseline, f sandbox.Fault) {
	c := Check{ID: id}
	injected := 0
	for _, e := range sc.log {
		if e.Fault != "" {
			injected++
		}
	}
	retries := 0
	if sc.report != nil {
		for _, r := range sc.report.Streams {
			retries += r.Retries
		}
	}
	ev := []string{fmt.Sprintf("fault %s hit %d of %d requests; the runtime retried %d times; the run took %s",
		f, injected, len(sc.log), retries, sc.elapsed.Round(time.Millisecond))}
	if f.Kind == "429" {
		ev = append(ev, retryAfterEvidence(sc.log, f.RetryAfter)...)
	}
	var failed, skipped []string
	judged := 0
	for _, si := range v.streams {
		if !bl.good[si.name()] {
			skipped = append(skipped, si.name())
			continue
		}
		judged++
		res := sc.result(si.name())
		if sc.startErr != nil {
			failed = append(failed, si.name())
			ev = append(ev, fmt.Sprintf("%s: the run did not start: %v", si.name(), sc.startErr))
			continue
		}
		ok := res.Outcome == store.Complete
		detail := fmt.Sprintf("outcome %s", res.Outcome)
		if ok && si.emits() {
			e := bl.exp[si.name()]
			m := e.match(sc.sink.records[si.name()])
			if !m.complete(e) {
				ok = false
				detail = fmt.Sprintf("complete, but fetched %d of %d seeded entities (%d not seeded)", m.matched, e.total, m.extra)
			}
		}
		if !ok {
			failed = append(failed, si.name())
			line := si.name() + ": " + detail
			if len(res.Errors) > 0 {
				line += ": " + res.Errors[0]
			}
			ev = append(ev, line)
		}
	}
	if len(skipped) > 0 {
		ev = append(ev, "not judged (not complete in the baseline): "+strings.Join(skipped, ", "))
	}
	switch {
	case judged == 0:
		c.Status, c.Summary = StatusSkip, "no stream was complete in the baseline, so there is nothing to keep complete"
	case len(failed) > 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("stream(s) %s did not survive %s; retry on %s with enough attempts and a max_wait that allows the pause (defaults.retry)",
			strings.Join(failed, ", "), faultWords(f), faultStatus(f))
	case injected == 0:
		c.Status, c.Summary = StatusWarn, "the fault was never injected, so this proves nothing"
	default:
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("%d stream(s) complete with every seeded entity despite %s", judged, faultWords(f))
	}
	c.Evidence = ev
	v.add(c)
}

func faultWords(f sandbox.Fault) string {
	switch f.Kind {
	case "429":
		return fmt.Sprintf("429s with Retry-After %s", f.RetryAfter)
	case "slow":
		return fmt.Sprintf("responses delayed %s", f.Delay)
	}
	if f.Every > 1 {
		return fmt.Sprintf("bursts of %d× %d on every %s distinct URL", f.Burst, f.Status, ordinal(f.Every))
	}
	return fmt.Sprintf("bursts of %d× %d per request", f.Burst, f.Status)
}

func faultStatus(f sandbox.Fault) string {
	if f.Kind == "slow" {
		return "timeouts (defaults.timeout must exceed the delay)"
	}
	return fmt.Sprint(f.Status)
}

// retryAfterEvidence says how long the runtime waited after each 429
// before asking for the same page again.
func retryAfterEvidence(log []sandbox.LogEntry, want time.Duration) []string {
	var out []string
	for i, e := range log {
		if e.Status != 429 {
			continue
		}
		for _, n := range log[i+1:] {
			if n.Path == e.Path && n.Query == e.Query {
				gap := n.Time.Sub(e.Time.Add(e.Duration))
				verdict := "as Retry-After asked"
				if gap < want-50*time.Millisecond {
					verdict = "sooner than Retry-After asked"
				}
				out = append(out, fmt.Sprintf("%s: 429, retried after %s, %s", logLine(e), gap.Round(10*time.Millisecond), verdict))
				break
			}
		}
	}
	return out
}

// driftCandidates lists the record properties a drift of si can rename:
// those its map and relationships read, required ones first, never the
// id. why is set when the stream cannot be drift-tested.
func (v *validation) driftCandidates(bl *baseline, si *streamInfo) ([]string, string) {
	switch {
	case !si.emits():
		return nil, "emits nothing"
	case si.op == nil || bl.exp[si.name()].reason != "":
		return nil, "the stream reads no documented list operation, so no drift can be injected"
	case si.embedded:
		return nil, "the stream reads items embedded in each record (a.*.b); the sandbox drifts list records, not embedded items"
	case !bl.good[si.name()]:
		return nil, "the stream was not complete in the baseline, so a drift cannot be judged"
	}
	e := bl.exp[si.name()]
	var exprs []string
	for _, f := range mappedFields(si) {
		if f != "external_id" {
			exprs = append(exprs, si.st.Map[f])
		}
	}
	for _, r := range si.st.Relationships {
		exprs = append(exprs, r.ExternalID, r.Privilege)
	}
	// Only properties the seeded records carry: renaming one that is
	// never there changes nothing and proves nothing.
	seeded := func(p string) bool {
		return slices.ContainsFunc(e.items, func(it any) bool {
			m, ok := it.(map[string]any)
			return ok && m[p] != nil
		})
	}
	var props, unseeded []string
	for _, x := range exprs {
		for _, p := range readProps(x) {
			switch {
			case p == e.idField || slices.Contains(props, p) || slices.Contains(unseeded, p):
			case seeded(p):
				props = append(props, p)
			default:
				unseeded = append(unseeded, p)
			}
		}
	}
	switch {
	case len(props) == 0 && len(unseeded) > 0:
		return nil, fmt.Sprintf("the seeded records carry none of the properties the map reads (%s), so there is nothing to drift", strings.Join(unseeded, ", "))
	case len(props) == 0:
		return nil, "the map reads no record property other than its id, so there is nothing to drift"
	}
	var required []string
	if si.op.List != nil && si.op.List.Records != nil {
		required = si.op.List.Records.Required
	}
	slices.SortStableFunc(props, func(a, b string) int {
		ra, rb := slices.Contains(required, a), slices.Contains(required, b)
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	return props, ""
}

// driftScenario renames one property the stream's map reads and runs the
// stream (with its for_each ancestors, which feed it) against it.
func (v *validation) driftScenario(ctx context.Context, bl *baseline, si *streamInfo, cands []string) error {
	name := ScenarioDrift + " " + si.name()
	v.progress(name)
	spec := v.chainSpec(si)
	var tried []string
	for _, field := range cands {
		f := sandbox.Fault{Kind: "drift", Drift: "rename", Field: field, Path: si.opPath}
		if _, err := sandbox.New(v.surface, sandbox.Options{Seed: v.o.Seed, Entities: 1, Faults: []sandbox.Fault{f}, Now: v.o.Now}); err != nil {
			tried = append(tried, field)
			continue
		}
		sc, err := v.runScenario(ctx, name, []sandbox.Fault{f}, spec)
		if err != nil {
			return err
		}
		v.judgeDrift(bl, sc, si, field)
		return nil
	}
	v.add(Check{ID: CheckDrift, Stream: si.name(), Status: StatusSkip,
		Summary: fmt.Sprintf("the sandbox cannot rename %s in the records of GET %s: not a property of its record schema", strings.Join(tried, ", "), si.opPath)})
	return nil
}

// attrsFilled counts the non-null attribute values of records: a drift
// that nulls one key inside attributes loses data as surely as a nulled
// field.
func attrsFilled(rs []*nhi.Record) int {
	n := 0
	for _, r := range rs {
		for _, v := range r.Attributes {
			if v != nil {
				n++
			}
		}
	}
	return n
}

// chainSpec is the spec reduced to si and the for_each ancestors that
// feed it: a drift is judged on one stream, and the rest would only cost
// time.
func (v *validation) chainSpec(si *streamInfo) *integration.Spec {
	keep := map[string]bool{}
	for cur := si.st; cur != nil; {
		if keep[cur.Name] {
			break // a cycle: lint refuses it, but never loop
		}
		keep[cur.Name] = true
		if cur.ForEach == nil {
			break
		}
		cur = v.spec.Stream(cur.ForEach.Stream)
	}
	cp := *v.spec
	cp.Streams = nil
	for _, st := range v.spec.Streams {
		if keep[st.Name] {
			cp.Streams = append(cp.Streams, st)
		}
	}
	return &cp
}

// judgeDrift: a drift must fail loudly (the stream not complete, or
// mapping errors), or not matter (the same mapped values). A complete run
// whose mapped fields silently went null is the failure this catches.
func (v *validation) judgeDrift(bl *baseline, sc *scenario, si *streamInfo, field string) {
	required := si.op.List != nil && si.op.List.Records != nil && slices.Contains(si.op.List.Records.Required, field)
	c := Check{ID: CheckDrift, Stream: si.name()}
	drift := fmt.Sprintf("r.%s renamed to %s_v2 in GET %s", field, field, si.opPath)
	res := sc.result(si.name())
	if sc.startErr != nil {
		c.Status, c.Summary = StatusFail, "the drift run did not start: "+sc.startErr.Error()
		v.add(c)
		return
	}
	if res.Outcome != store.Complete {
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("fails loudly on drift (%s): outcome %s", drift, res.Outcome)
		c.Evidence = append([]string{drift}, res.Errors[:min(len(res.Errors), 5)]...)
		if _, n := recordErrors(res.Errors); n > 0 {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%d record(s) failed to map", n))
		}
		v.add(c)
		return
	}
	// Records pair up by kind and external_id. An id can repeat (a
	// vendor's, or the sandbox's, weak ids), so each id is a group and the
	// groups compare as multisets of values per field.
	group := func(recs []*nhi.Record) map[string][]*nhi.Record {
		out := map[string][]*nhi.Record{}
		for _, r := range recs {
			k := string(r.Kind) + "/" + r.ExternalID
			out[k] = append(out[k], r)
		}
		return out
	}
	baseRecs := bl.sc.sink.records[si.name()]
	before, after := group(baseRecs), group(sc.sink.records[si.name()])
	nulls, changed := map[string]int{}, map[string]int{}
	seen := 0
	for k, bs := range before {
		ds := after[k]
		seen += min(len(bs), len(ds))
		if len(ds) == 0 {
			continue
		}
		for _, f := range mappedFields(si) {
			filled := func(rs []*nhi.Record) int {
				n := 0
				for _, r := range rs {
					if _, empty := canonical(r, f); !empty {
						n++
					}
				}
				return n
			}
			lost := max(0, filled(bs)-filled(ds))
			if f == "attributes" && lost == 0 {
				lost = max(0, attrsFilled(bs)-attrsFilled(ds))
			}
			nulls[f] += lost
			vals := map[string]int{}
			for _, r := range ds {
				vals[canonicalJSON(r, f)]++
			}
			diff := 0
			for _, r := range bs {
				if j := canonicalJSON(r, f); vals[j] > 0 {
					vals[j]--
				} else {
					diff++
				}
			}
			changed[f] += max(0, diff-lost)
		}
	}
	for f, n := range nulls {
		if n == 0 {
			delete(nulls, f)
		}
	}
	for f, n := range changed {
		if n == 0 {
			delete(changed, f)
		}
	}
	ev := []string{drift}
	for _, f := range mappedFields(si) {
		if nulls[f] > 0 {
			ev = append(ev, fmt.Sprintf("%s (%s): values filled in the baseline are null in %d of %d records after the drift", f, si.st.Map[f], nulls[f], seen))
		}
		if changed[f] > 0 {
			ev = append(ev, fmt.Sprintf("%s (%s): a different value in %d of %d records after the drift", f, si.st.Map[f], changed[f], seen))
		}
	}
	switch {
	case len(nulls) > 0 && !required:
		// A guarded read is right for a property the doc says may be
		// absent, and a rename of it looks exactly like absence.
		c.Status = StatusWarn
		c.Summary = fmt.Sprintf("mapped fields went null on drift (%s); r.%s is optional in the doc, so the guarded read is expected, but the loss is silent", drift, field)
	case len(nulls) > 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("returns empty fields on drift (%s): the run reported complete while mapped fields went null; r.%s is required in the doc, so read it strictly (r.%s, no has() or orValue guard) and a drift fails the record instead of nulling it", drift, field, field)
	case seen < len(baseRecs):
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("on drift (%s) the run reported complete with %d of %d records", drift, seen, len(baseRecs))
	case len(changed) > 0:
		c.Status = StatusWarn
		c.Summary = fmt.Sprintf("mapped values changed silently on drift (%s); check the fallbacks in the map", drift)
	default:
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("the drift (%s) did not change any mapped value", drift)
	}
	c.Evidence = ev
	v.add(c)
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one injected failure. Build them with ParseFaults.
type Fault struct {
	// Kind: "429", "5xx" (served as 503), an exact status "500".."599",
	// "slow", "truncate" or "drift".
	Kind   string `json:"kind"`
	Status int    `json:"status,omitempty"` // the status a 429/5xx fault answers
	// Every Nth matching request is hit (counted per fault); or, with
	// Burst, each distinct request URL fails its first Burst attempts.
	Every      int           `json:"every,omitempty"`
	Burst      int           `json:"burst,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"` // 429
	Delay      time.Duration `json:"delay,omitempty"`       // slow
	// drift: Drift is rename, drop or type; Field the record property
	// ("" picks one: the first required non-id property); To a rename's
	// new name ("" means Field + "_v2").
	Drift string `json:"drift,omitempty"`
	Field string `json:"field,omitempty"`
	To    string `json:"to,omitempty"`
	// Path limits the fault to the operation with this path template, as
	// the doc writes it; "" means every operation.
	Path string `json:"path,omitempty"`
}

// FaultSyntax documents ParseFaults' input; the CLI prints it in --help.
const FaultSyntax = `A comma-separated list of faults, each KIND[:ARG]...[@PATH]:
  429[:N]               every Nth request answers 429 with Retry-After (N=3);
                        args every=N, burst=N, after=DURATION (Retry-After, default 1s)
  5xx[:N]               each distinct request URL fails its first N attempts with 503 (N=2),
                        then succeeds; 500..599[:N] answers that status; args burst=N, and
                        every=N to burst only every Nth distinct URL
  slow[:DURATION]       responses are delayed DURATION (default 500ms); arg every=N
  truncate[:N]          every Nth response (default every one) is a valid prefix of its body,
                        then the connection closes; arg every=N
  drift:rename[=F[>NEW]]  list records' field F is renamed to NEW (default F_v2)
  drift:drop[=F]        list records lose field F
  drift:type[=F]        F changes JSON type (timestamp -> epoch seconds, string <-> number,
                        boolean -> string, list -> {"items": list}, object -> [object])
                        (F defaults to the record's first required property other than its id)
  @PATH                 limits any fault to the operation with that path template,
                        e.g. drift:drop=name@/extensions or 5xx:3@/users/{id}/keys
Example: 429,5xx:3,slow:200ms,truncate:5,drift:rename`

// ParseFaults reads a fault list (see FaultSyntax). "" is no faults.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f, err := parseFault(item)
		if err != nil {
			return nil, fmt.Errorf("fault %q: %w", item, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFault(item string) (Fault, error) {
	var f Fault
	head, path, hasPath := strings.Cut(item, "@")
	if hasPath {
		if !strings.HasPrefix(path, "/") {
			return f, fmt.Errorf("@%s: want a path template starting with /", path)
		}
		f.Path = path
	}
	parts := strings.Split(head, ":")
	f.Kind = strings.ToLower(parts[0])
	args := parts[1:]
	posInt := func(k, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s=%s: want a whole number of 1 or more", k, v)
		}
		return n, nil
	}
	dur := func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			return 0, fmt.Errorf("%q: want a duration such as 200ms or 2s, at most 5m", v)
		}
		return d, nil
	}
	// keyed applies key=value arguments common to the counting faults.
	burstGiven := false
	keyed := func(a string, bare func(string) error) error {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return bare(a)
		}
		var err error
		switch k {
		case "every":
			f.Every, err = posInt(k, v)
			if !burstGiven {
				f.Burst = 0
			}
		case "burst":
			f.Burst, err = posInt(k, v)
			burstGiven = is5xx(f.Kind) // 5xx: burst=N and every=M sample URLs
			if !burstGiven {
				f.Every = 0
			}
		case "after":
			if f.Kind != "429" {
				return fmt.Errorf("after= applies to 429 only")
			}
			f.RetryAfter, err = dur(v)
		default:
			return fmt.Errorf("unknown argument %q", k)
		}
		return err
	}
	switch {
	case f.Kind == "429":
		f.Status, f.Every, f.RetryAfter = 429, 3, time.Second
		for _, a := range args {
			if err := keyed(a, func(v string) (err error) { f.Every, err = posInt("every", v); return }); err != nil {
				return f, err
			}
		}
	case is5xx(f.Kind):
		f.Status = 503
		if f.Kind != "5xx" {
			n, err := strconv.Atoi(f.Kind)
			if err != nil || n < 500 || n > 599 {
				return f, fmt.Errorf("%s is not a 5xx status", f.Kind)
			}
			f.Status = n
		}
		f.Burst = 2
		for _, a := range args {
			if err := keyed(a, func(v string) (err error) { f.Burst, err = posInt("burst", v); return }); err != nil {
				return f, err
			}
		}
	case f.Kind == "slow":
		f.Delay, f.Every = 500*time.Millisecond, 1
		for _, a := range args {
			if err := keyed(a, func(v string) (err error) { f.Delay, err = dur(v); return }); err != nil {
				return f, err
			}
		}
		if f.Burst != 0 {
			return f, fmt.Errorf("slow takes every=N, not burst")
		}
	case f.Kind == "truncate":
		f.Every = 1
		for _, a := range args {
			if err := keyed(a, func(v string) (err error) { f.Every, err = posInt("every", v); return }); err != nil {
				return f, err
			}
		}
		if f.Burst != 0 {
			return f, fmt.Errorf("truncate takes every=N, not burst")
		}
	case f.Kind == "drift":
		if len(args) != 1 {
			return f, fmt.Errorf("want drift:rename[=FIELD[>NEW]], drift:drop[=FIELD] or drift:type[=FIELD]")
		}
		kind, field, _ := strings.Cut(args[0], "=")
		f.Drift = kind
		switch kind {
		case "rename":
			f.Field, f.To, _ = strings.Cut(field, ">")
			if f.To == "" && strings.Contains(field, ">") {
				return f, fmt.Errorf("rename %s: the new name is empty", field)
			}
		case "drop", "type":
			f.Field = field
		default:
			return f, fmt.Errorf("drift %q: want rename, drop or type", kind)
		}
	default:
		return f, fmt.Errorf("unknown fault %q: want 429, 5xx (or 500..599), slow, truncate or drift", f.Kind)
	}
	return f, nil
}

// String is the fault in ParseFaults syntax.
func (f Fault) String() string {
	var b strings.Builder
	switch f.Kind {
	case "slow":
		fmt.Fprintf(&b, "slow:%s", f.Delay)
		if f.Every > 1 {
			fmt.Fprintf(&b, ":every=%d", f.Every)
		}
	case "truncate":
		fmt.Fprintf(&b, "truncate:every=%d", f.Every)
	case "drift":
		b.WriteString("drift:" + f.Drift)
		if f.Field != "" {
			b.WriteString("=" + f.Field)
			if f.To != "" {
				b.WriteString(">" + f.To)
			}
		}
	default:
		b.WriteString(f.Kind)
		if f.Burst > 0 {
			fmt.Fprintf(&b, ":burst=%d", f.Burst)
			if f.Every > 1 {
				fmt.Fprintf(&b, ":every=%d", f.Every)
			}
		} else {
			fmt.Fprintf(&b, ":every=%d", f.Every)
		}
		if f.Kind == "429" {
			fmt.Fprintf(&b, ":after=%s", f.RetryAfter)
		}
	}
	if f.Path != "" {
		b.WriteString("@" + f.Path)
	}
	return b.String()
}

// faultState is a fault with its counters.
type faultState struct {
	Fault
	n      atomic.Uint64
	mu     sync.Mutex
	bursts map[string]int // request key → attempts seen
	urls   int            // distinct request keys seen, for Burst with Every
}

const maxBurstKeys = 100_000

func (fs *faultState) applies(rt *route) bool { return fs.Path == "" || fs.Path == rt.op.Path }

// hit decides whether this request is hit: every Nth, or one of the
// first Burst attempts at its URL (so a client's retries of the same page
// count, and concurrency does not change which pages fail). With both
// Burst and Every, only every Nth distinct URL gets its burst: a sample
// that proves retries work without every page paying a backoff.
func (fs *faultState) hit(key string) bool {
	if fs.Burst > 0 {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if len(fs.bursts) >= maxBurstKeys {
			clear(fs.bursts)
		}
		n, seen := fs.bursts[key]
		if !seen {
			fs.urls++
			if fs.Every > 1 && fs.urls%fs.Every != 1 {
				n = -1 << 30 // never hit: not in the sample
			}
		}
		n++
		fs.bursts[key] = n
		return n >= 1 && n <= fs.Burst
	}
	every := uint64(max(fs.Every, 1))
	return fs.n.Add(1)%every == 0
}

func (sb *Sandbox) buildFaults(faults []Fault) error {
	for _, f := range faults {
		if f.Path != "" && !sb.hasRoute(f.Path) {
			return fmt.Errorf("fault %s: no GET operation has the path template %s", f, f.Path)
		}
		if f.Kind == "drift" {
			if err := sb.addDrift(f); err != nil {
				return err
			}
		}
		fs := &faultState{Fault: f, bursts: map[string]int{}}
		sb.faults = append(sb.faults, fs)
	}
	return nil
}

func (sb *Sandbox) hasRoute(path string) bool {
	for _, rt := range sb.routes {
		if rt.op.Path == path {
			return true
		}
	}
	return false
}

// addDrift attaches a drift to the lists it targets.
func (sb *Sandbox) addDrift(f Fault) error {
	applied := 0
	for _, l := range sb.lists {
		if f.Path != "" && l.route.op.Path != f.Path {
			continue
		}
		field := f.Field
		if field == "" {
			field = l.driftField()
		}
		if field == "" || l.records == nil || !hasProp(l.records, field) {
			if f.Path != "" {
				return fmt.Errorf("fault %s: the records of %s have no property %q", f, f.Path, field)
			}
			continue
		}
		d := driftAction{kind: f.Drift, field: field, to: f.To, fault: f.String()}
		if d.kind == "rename" && d.to == "" {
			d.to = field + "_v2"
		}
		l.drift = append(l.drift, d)
		applied++
	}
	if applied == 0 {
		if f.Path != "" {
			return fmt.Errorf("fault %s: %s is not a list operation", f, f.Path)
		}
		return fmt.Errorf("fault %s: no list operation's records have that property", f)
	}
	return nil
}

// driftField is the property a drift changes by default: the first
// required one other than the id (what a mapping most likely reads),
// else the first other property.
func (l *list) driftField() string {
	if l.records == nil {
		return ""
	}
	for _, r := range l.records.Required {
		if r != l.idField && hasProp(l.records, r) {
			return r
		}
	}
	for _, p := range l.records.Properties {
		if p.Name != l.idField && (p.Schema == nil || !p.Schema.WriteOnly) {
			return p.Name
		}
	}
	return ""
}

// driftAction is one schema drift applied to every record of a list.
type driftAction struct {
	kind, field, to string
	fault           string // the fault it came from, for the request log
}

func (d driftAction) String() string {
	switch d.kind {
	case "rename":
		return "rename " + d.field + " -> " + d.to
	case "drop":
		return "drop " + d.field
	}
	return "type " + d.field
}

func (d driftAction) apply(o *object) {
	switch d.kind {
	case "rename":
		o.rename(d.field, d.to)
	case "drop":
		o.del(d.field)
	case "type":
		if v, ok := o.get(d.field); ok {
			o.set(d.field, retype(v))
		}
	}
}

// retype changes a value's JSON type the way APIs really drift, keeping
// its content: a timestamp becomes epoch seconds, other strings numbers,
// numbers and booleans strings, a list an object wrapping it, an object a
// one-element list.
func retype(v any) any {
	switch t := v.(type) {
	case string:
		if tm, err := time.Parse(time.RFC3339, t); err == nil {
			return tm.Unix()
		}
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n
		}
		return int64(len(t))
	case int64, float64:
		return fmt.Sprint(t)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		return &object{keys: []string{"items"}, vals: []any{t}}
	case *object:
		return []any{t}
	}
	return int64(0) // null
}

// injectFaults applies the request-time faults to one authenticated
// request. Every fault counts every request it applies to, independently,
// so faults compose; then slow ones delay, and the first error fault that
// hit answers. It returns true when it answered, and whether the body is
// to be truncated.
func (sb *Sandbox) injectFaults(w http.ResponseWriter, r *http.Request, rt *route, e *LogEntry) (answered, truncate bool) {
	key := sb.requestKey(r)
	if rt.list != nil { // drift shows in the list and its items alike
		for _, d := range rt.list.drift {
			e.addFault(d.fault)
		}
	}
	var delay time.Duration
	var answer *faultState
	for _, fs := range sb.faults {
		if fs.Kind == "drift" || !fs.applies(rt) {
			continue
		}
		if !fs.hit(key) {
			continue
		}
		switch fs.Kind {
		case "slow":
			delay += fs.Delay
		case "truncate":
			truncate = true
		default:
			if answer != nil {
				continue
			}
			answer = fs
		}
		e.addFault(fs.String())
	}
	if delay > 0 && !sleep(r.Context(), delay) {
		return true, false // the client gave up
	}
	if answer != nil {
		if answer.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int((answer.RetryAfter+time.Second-1)/time.Second)))
		}
		sb.writeError(w, rt.op, answer.Status, statusCode(answer.Status), "injected fault: "+http.StatusText(answer.Status))
		return true, false
	}
	return false, truncate
}

func is5xx(kind string) bool { return kind == "5xx" || len(kind) == 3 && kind[0] == '5' }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

package validate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store"
)

// Scenario names, as Options.Progress is told them.
const (
	ScenarioBaseline = "baseline"
	Scenario429      = "resilience_429"
	Scenario5xx      = "resilience_5xx"
	ScenarioSlow     = "resilience_slow"
	// ScenarioDrift is followed by " <stream>": one drift run per stream.
	ScenarioDrift = "drift"
)

// maxEvidence bounds every check's evidence, and maxStreamErrors the
// runtime errors kept per stream score.
const (
	maxEvidence     = 20
	maxStreamErrors = 10
)

// maxParallelScenarios bounds the fault scenarios run at once. They are
// independent sandboxes; the resilience ones mostly wait (Retry-After,
// backoff, delays), so running them side by side is what keeps a full
// validation within a few seconds.
const maxParallelScenarios = 6

// validation is one Run's state.
type validation struct {
	file    string
	o       Options
	surface *apisurface.Surface
	spec    *integration.Spec
	red     *runtime.Redactor
	card    *Scorecard
	start   time.Time

	config     map[string]string
	configNote []string
	baseURL    *url.URL // the spec's base URL, config filled in
	streams    []*streamInfo
	byName     map[string]*streamInfo

	progressMu sync.Mutex
	mu         sync.Mutex // guards card.Requests from parallel scenarios
}

// streamInfo is one stream of the spec with the documented operation it
// reads.
type streamInfo struct {
	st     *integration.Stream
	method string
	// opPath is the doc's template of the operation the stream reads; ""
	// when no documented operation matches (opErr says why).
	opPath string
	op     *apisurface.Operation
	opErr  string
	// outer and inner split an embedded records path "a.*.b".
	embedded     bool
	outer, inner string
}

func (si *streamInfo) name() string { return si.st.Name }

func (si *streamInfo) emits() bool { return si.st.Emits != "" }

// Run validates the spec against sandboxes built from surface; see the
// package comment and validate.go for what each check judges.
func Run(ctx context.Context, file string, specYAML []byte, surface *apisurface.Surface, o Options) (*Scorecard, error) {
	if surface == nil {
		return nil, errors.New("validate: no API surface; load the vendor's doc with apisurface.Load")
	}
	if o.Entities == 0 {
		o.Entities = sandbox.DefaultEntities
	}
	if o.Now.IsZero() {
		o.Now = sandbox.DefaultNow()
	}
	sum := sha256.Sum256(specYAML)
	v := &validation{
		file: file, o: o, surface: surface, red: runtime.NewRedactor(), start: time.Now(),
		card: &Scorecard{SpecSHA256: hex.EncodeToString(sum[:]), Doc: surface.Source, Seed: o.Seed},
	}
	defer func() { v.card.Elapsed = time.Since(v.start) }()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !v.lint(specYAML) {
		v.skipRest(CheckLint, "the spec does not pass lint; fix the lint findings first")
		v.finish()
		return v.card, nil
	}
	v.prepare()

	// The baseline sandbox also tells where operations are served (its
	// base path) and which GET operations exist, so it is built before
	// the operations check.
	v.progress(ScenarioBaseline)
	base, err := v.runScenario(ctx, ScenarioBaseline, nil, v.spec)
	if err != nil {
		return nil, err
	}
	v.checkOperations(base.sb)
	bl := v.judgeBaseline(base)
	if v.o.Quick {
		for _, id := range []string{CheckRateLimited, CheckServerErrors, CheckSlow, CheckDrift} {
			v.add(Check{ID: id, Status: StatusSkip, Summary: "quick validation: only the baseline scenario ran; run a full validation for a verdict"})
		}
	} else if err := v.faultScenarios(ctx, base, bl); err != nil {
		return nil, err
	}
	v.finish()
	return v.card, nil
}

// lint parses, lints and compiles the spec. It reports the lint check and
// whether validation can go on.
func (v *validation) lint(specYAML []byte) bool {
	doc, err := integration.Parse(v.file, specYAML)
	var findings integration.Findings
	switch {
	case err != nil && errors.As(err, &findings):
	case err != nil:
		findings = integration.Findings{{Rule: "SPX-S001", Level: integration.LevelError, File: v.file, Path: "$", Message: err.Error()}}
	default:
		findings = integration.Lint(doc)
	}
	if errs := findings.Errors(); len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, f := range errs {
			lines[i] = lintLine(f)
		}
		v.add(Check{ID: CheckLint, Status: StatusFail,
			Summary:  fmt.Sprintf("%d lint error(s); the spec cannot run until they are fixed", len(errs)),
			Evidence: lines})
		return false
	}
	if _, err := integration.Compile(doc.Spec); err != nil {
		v.add(Check{ID: CheckLint, Status: StatusFail, Summary: "the spec's CEL does not compile",
			Evidence: strings.Split(err.Error(), "\n")})
		return false
	}
	v.spec = doc.Spec
	var ev []string
	for _, f := range findings {
		ev = append(ev, lintLine(f)) // warnings only, by now
	}
	if note := v.hostNote(); note != "" {
		v.add(Check{ID: CheckLint, Status: StatusFail, Summary: "connection.base_url is not the doc's server", Evidence: append(ev, note)})
		return false
	}
	v.add(Check{ID: CheckLint, Status: StatusPass,
		Summary: fmt.Sprintf("no lint errors (%d warning(s))", len(findings)), Evidence: ev})
	return true
}

func lintLine(f integration.Finding) string {
	at := ""
	if f.Path != "" {
		at = " at " + f.Path
	}
	return fmt.Sprintf("%s:%d:%d %s %s%s: %s", f.File, f.Line, f.Column, f.Rule, f.Level, at, f.Message)
}

// hostNote refuses a base URL whose host is not one the doc serves: the
// run goes to the sandbox either way, so without this check a spec could
// validate cleanly and then send its credential to a host the vendor
// never named (a prompt-injected doc's favourite trick).
func (v *validation) hostNote() string {
	if len(v.surface.Servers) == 0 {
		return ""
	}
	if err := CheckHost(v.spec.Connection.BaseURL, v.surface.Servers); err != nil {
		return err.Error()
	}
	if err := CheckTokenHost(v.spec.Connection.Auth.TokenURL, v.spec.Connection.BaseURL, v.surface); err != nil {
		return err.Error()
	}
	return ""
}

// CheckTokenHost: a token_url on a host other than base_url's must be a
// token URL the doc's own OAuth flows name. The client secret goes there,
// so a host the doc never mentions is refused outright.
func CheckTokenHost(tokenURL, baseURL string, s *apisurface.Surface) error {
	th := hostPart(tokenURL)
	if th == "" || strings.EqualFold(templateRe.ReplaceAllString(th, "{}"), templateRe.ReplaceAllString(hostPart(baseURL), "{}")) {
		return nil // a path, or base_url's host: covered by CheckHost
	}
	var named []string
	for _, sc := range s.SecuritySchemes {
		for _, f := range sc.Flows {
			if h := hostPart(f.TokenURL); h != "" {
				if strings.EqualFold(h, th) {
					return nil
				}
				named = append(named, h)
			}
		}
	}
	if len(named) == 0 {
		return fmt.Errorf("auth.token_url host %q is not named by the doc, whose OAuth flows give no absolute token URL: use a token_url on base_url's host", th)
	}
	return fmt.Errorf("auth.token_url host %q is not a token host the doc names (%s): the client secret may go only to the vendor's documented identity provider", th, strings.Join(slices.Compact(named), ", "))
}

// CheckHost reports whether baseURL's host is one of the doc's server
// hosts: the same host, the host with its server variables set to their
// default or enum values, or the same template shape ({config.tenant}
// where the doc has {tenant}). A doc with no servers constrains nothing.
func CheckHost(baseURL string, servers []apisurface.Server) error {
	if len(servers) == 0 {
		return nil
	}
	specHost := hostPart(baseURL)
	var want []string
	for _, srv := range servers {
		docHost := hostPart(srv.URL)
		if docHost == "" {
			continue // a relative server URL: the doc's own host, whatever it is
		}
		if strings.EqualFold(templateRe.ReplaceAllString(docHost, "{}"), templateRe.ReplaceAllString(specHost, "{}")) {
			return nil
		}
		for _, h := range expandHost(docHost, srv.Variables) {
			if strings.EqualFold(h, specHost) {
				return nil
			}
			want = append(want, h)
		}
	}
	if len(want) == 0 {
		return nil
	}
	return fmt.Errorf("connection.base_url host %q is not a server of the doc (%s): an integration talks only to the vendor's documented host; use the doc's server URL",
		specHost, strings.Join(want, ", "))
}

func hostPart(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	return host
}

// expandHost lists the concrete hosts a templated server host stands for:
// each variable's default and enum values.
func expandHost(host string, vars []apisurface.ServerVariable) []string {
	out := []string{host}
	for _, sv := range vars {
		ph := "{" + sv.Name + "}"
		if !strings.Contains(host, ph) {
			continue
		}
		vals := append([]string{sv.Default}, sv.Enum...)
		var next []string
		for _, h := range out {
			for _, val := range vals {
				if val != "" {
					next = append(next, strings.ReplaceAll(h, ph, val))
				}
			}
		}
		out = next
	}
	return slices.Compact(out)
}

var templateRe = regexp.MustCompile(`\{[^{}]*\}`)

// prepare resolves config inputs and the spec's base URL, and splits
// embedded records paths.
func (v *validation) prepare() {
	v.config = map[string]string{}
	maps.Copy(v.config, v.o.Config)
	names := make([]string, 0, len(v.spec.Connection.Config))
	for n := range v.spec.Connection.Config {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cv := v.spec.Connection.Config[n]
		if _, ok := v.config[n]; ok || cv.Default != "" || !cv.Required {
			continue
		}
		// Letters, digits and '-' only: the runtime accepts it in a URL.
		v.config[n] = "sbx-" + strings.ToLower(strings.ReplaceAll(n, "_", "-"))
		v.configNote = append(v.configNote, fmt.Sprintf("config %s had no value; validation used the synthetic %q", n, v.config[n]))
	}
	raw, err := integration.Expand(v.spec.Connection.BaseURL, func(ref string) (string, error) {
		name := strings.TrimPrefix(ref, integration.VarConfig+".")
		if val, ok := v.config[name]; ok {
			return val, nil
		}
		if cv, ok := v.spec.Connection.Config[name]; ok && cv.Default != "" {
			return cv.Default, nil
		}
		return "unset-" + name, nil
	}, nil)
	if err != nil {
		raw = templateRe.ReplaceAllString(v.spec.Connection.BaseURL, "x")
	}
	v.baseURL, err = url.Parse(raw)
	if err != nil {
		v.baseURL = &url.URL{}
	}
	v.baseURL.Path = strings.TrimSuffix(v.baseURL.Path, "/")

	v.byName = map[string]*streamInfo{}
	for i := range v.spec.Streams {
		st := &v.spec.Streams[i]
		si := &streamInfo{st: st, method: strings.ToUpper(st.Request.MethodOrGet())}
		if !strings.HasPrefix(st.Records, "/") {
			if outer, inner, ok := strings.Cut(st.Records, ".*."); ok {
				si.embedded, si.outer, si.inner = true, outer, inner
			} else if rest, ok := strings.CutPrefix(st.Records, "*."); ok {
				si.embedded, si.inner = true, rest
			}
		}
		v.streams = append(v.streams, si)
		v.byName[st.Name] = si
	}
}

func (v *validation) progress(scenario string) {
	if v.o.Progress == nil {
		return
	}
	v.progressMu.Lock()
	defer v.progressMu.Unlock()
	v.o.Progress(scenario)
}

// add appends a check with its summary and evidence redacted and bounded.
func (v *validation) add(c Check) {
	c.Summary = v.red.String(c.Summary)
	c.Evidence = v.bound(c.Evidence)
	v.mu.Lock()
	v.card.Checks = append(v.card.Checks, c)
	v.mu.Unlock()
}

// bound redacts lines and keeps at most maxEvidence of them, saying how
// many were left out.
func (v *validation) bound(lines []string) []string {
	return boundLines(v.red, lines, maxEvidence)
}

func boundLines(red *runtime.Redactor, lines []string, n int) []string {
	if len(lines) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(lines), n))
	for i, l := range lines {
		if i == n-1 && len(lines) > n {
			out = append(out, fmt.Sprintf("… and %d more", len(lines)-i))
			break
		}
		out = append(out, red.String(l))
	}
	return out
}

// skipRest marks every check after the given one skipped.
func (v *validation) skipRest(after, why string) {
	skip := false
	for _, id := range checkOrder {
		if skip {
			v.add(Check{ID: id, Status: StatusSkip, Summary: why})
		}
		if id == after {
			skip = true
		}
	}
}

var checkOrder = []string{CheckLint, CheckOperations, CheckAuth, CheckCompleteness, CheckSchema, CheckNullRate,
	CheckRelationships, CheckRateLimited, CheckServerErrors, CheckSlow, CheckDrift}

// finish orders the checks as checkOrder lists them (streams in spec
// order within a check) and sets the verdict.
func (v *validation) finish() {
	rank := map[string]int{}
	for i, id := range checkOrder {
		rank[id] = i
	}
	srank := map[string]int{"": -1}
	for i, si := range v.streams {
		srank[si.name()] = i
	}
	sort.SliceStable(v.card.Checks, func(i, j int) bool {
		a, b := v.card.Checks[i], v.card.Checks[j]
		if rank[a.ID] != rank[b.ID] {
			return rank[a.ID] < rank[b.ID]
		}
		return srank[a.Stream] < srank[b.Stream]
	})
	v.card.Passed = len(v.card.Checks) > 0 && len(v.card.Failed()) == 0
}

// scenario is what one sandbox run produced.
type scenario struct {
	name     string
	sb       *sandbox.Sandbox
	creds    []sandbox.Credential
	credNote []string
	// startErr: the runtime refused to start (config, credential, URL).
	startErr error
	report   *runtime.Report
	sink     *memSink
	log      []sandbox.LogEntry
	requests int
	elapsed  time.Duration
}

// result returns stream name's outcome, or a zero result naming why.
func (s *scenario) result(name string) store.StreamResult {
	if s.report != nil {
		for _, r := range s.report.Streams {
			if r.Stream == name {
				return r
			}
		}
	}
	return store.StreamResult{Stream: name, Outcome: store.Failed}
}

// runScenario builds a fresh sandbox with the run's seed and faults,
// serves it on loopback and runs spec against it through the egress
// guard. The runtime reaches the sandbox only over HTTP: nothing the spec
// expresses touches the sandbox, its truth or the checks.
func (v *validation) runScenario(ctx context.Context, name string, faults []sandbox.Fault, spec *integration.Spec) (*scenario, error) {
	started := time.Now()
	sb, err := sandbox.New(v.surface, sandbox.Options{Seed: v.o.Seed, Entities: v.o.Entities, Faults: faults, Now: v.o.Now})
	if err != nil {
		return nil, fmt.Errorf("validate: %s: building the sandbox: %w", name, err)
	}
	srv, err := sb.Start(ctx, sandbox.DefaultAddr)
	if err != nil {
		return nil, fmt.Errorf("validate: %s: %w", name, err)
	}
	defer srv.Close()
	sc := &scenario{name: name, sb: sb, creds: srv.Credentials(), sink: newMemSink()}
	for _, c := range sc.creds {
		v.red.Add(c.Value, c.Password, c.ClientSecret, c.AccessToken)
	}

	runSpec, plan := v.runSpec(spec, sc.creds)
	sc.credNote = plan.notes
	base := srv.Origin() + v.baseURL.EscapedPath()
	cfg := maps.Clone(v.config)
	maps.Copy(cfg, plan.config)
	runner, err := runtime.New(ctx, runSpec, runtime.Options{
		BaseURL:   base,
		Config:    cfg,
		Secrets:   plan.resolver(),
		Transport: sandbox.EgressTransport(srv.Addr()),
		Redactor:  v.red,
	})
	if err == nil {
		sc.report, err = runner.Run(ctx, sc.sink)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if err != nil {
		sc.startErr = v.red.Error(err)
	}
	// Let the handlers log the last responses before reading the log.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	sc.log = srv.RequestLog()
	sc.requests = len(sc.log) + sb.DroppedLogEntries()
	sc.elapsed = time.Since(started)
	v.mu.Lock()
	v.card.Requests += sc.requests
	v.mu.Unlock()
	return sc, nil
}

// memSink keeps every record per stream. Records that break the canonical
// model's invariants are refused the way the store refuses them, so the
// runtime reports them (and the stream is not complete).
type memSink struct {
	mu      sync.Mutex
	records map[string][]*nhi.Record
	invalid map[string][]string
	ended   map[string]store.StreamResult
}

func newMemSink() *memSink {
	return &memSink{records: map[string][]*nhi.Record{}, invalid: map[string][]string{}, ended: map[string]store.StreamResult{}}
}

func (m *memSink) Put(_ context.Context, stream string, rec *nhi.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := rec.Validate(); err != nil {
		m.invalid[stream] = append(m.invalid[stream], err.Error())
		return fmt.Errorf("%w: %v", store.ErrInvalidRecord, err)
	}
	m.records[stream] = append(m.records[stream], rec)
	return nil
}

func (m *memSink) EndStream(_ context.Context, res store.StreamResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended[res.Stream] = res
	return nil
}

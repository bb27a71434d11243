// Package runtime executes an integration spec against a vendor API:
// fetch → map → hand to a sink, one page at a time. The HTTP path is a
// stack of thin RoundTripper layers (host guard, timeout, auth, rate
// limit, retry), each tested alone; paging, fan-out and CEL mapping are
// driven by the spec. Memory is bounded by the page size and the fan-out
// concurrency, never by the record count.
package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// Sink receives mapped records and each stream's outcome. store.Sync is a
// Sink; so is the JSON Lines writer. The runner serialises calls, so a
// Sink need not be safe for concurrent use.
type Sink interface {
	Put(ctx context.Context, stream string, rec *nhi.Record) error
	EndStream(ctx context.Context, res store.StreamResult) error
}

// Progress is reported after every page.
type Progress struct {
	Stream  string `json:"stream"`
	Pages   int    `json:"pages"`
	Records int    `json:"records"`
	Retries int    `json:"retries"`
}

// Options configure a Runner. Only Secrets is needed for a spec with auth.
type Options struct {
	// BaseURL overrides the spec's base_url (a sandbox, a demo, a test).
	// Requests, and the credential, still go only to its one host.
	BaseURL string
	// Config holds the values of the spec's connection.config inputs.
	Config map[string]string
	// Secrets resolves connection.auth.credential.
	Secrets SecretResolver
	// Transport is the innermost RoundTripper (default: a fresh
	// http.Transport). The sandbox's egress guard plugs in here.
	Transport http.RoundTripper
	// Decoders add body decoders by media type (XML and others).
	Decoders map[string]Decoder
	// Redactor collects secret values to scrub; one is made when nil.
	Redactor *Redactor
	Logger   *slog.Logger
	Progress func(Progress)
	// MaxPages bounds every walk whose pagination sets no max_pages.
	MaxPages int
	Now      func() time.Time
}

// DefaultMaxPages bounds a walk when neither the spec nor Options do.
const DefaultMaxPages = 100_000

// Report is the outcome of a run.
type Report struct {
	Source     string               `json:"source"`
	StartedAt  time.Time            `json:"started_at"`
	FinishedAt time.Time            `json:"finished_at"`
	Records    int                  `json:"records"`
	Status     string               `json:"status"` // ok | partial | failed
	Streams    []store.StreamResult `json:"streams"`
}

// Runner executes one spec. Build it once with New (CEL is compiled there)
// and Run it as often as needed.
type Runner struct {
	spec     *integration.Spec
	progs    *integration.Compiled
	opts     Options
	config   map[string]string
	base     *url.URL
	client   *http.Client
	red      *Redactor
	log      *slog.Logger
	maxBody  int64
	children map[string][]*integration.Stream
	sinkMu   sync.Mutex
	bufs     sync.Pool // *bytes.Buffer page buffers, reused across pages
}

// New validates the run's inputs, compiles the spec's CEL and builds the
// HTTP stack. Errors say which input to fix.
func New(ctx context.Context, spec *integration.Spec, opts Options) (*Runner, error) {
	progs, err := integration.Compile(spec)
	if err != nil {
		return nil, err
	}
	r := &Runner{spec: spec, progs: progs, opts: opts, red: opts.Redactor, log: opts.Logger,
		children: map[string][]*integration.Stream{}}
	if r.red == nil {
		r.red = NewRedactor()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	if r.config, err = resolveConfig(spec, opts.Config); err != nil {
		return nil, err
	}
	rawBase := spec.Connection.BaseURL
	if opts.BaseURL != "" {
		rawBase = opts.BaseURL
	}
	if r.base, err = r.expandURL(rawBase); err != nil {
		return nil, fmt.Errorf("base URL: %w", err)
	}
	r.maxBody = spec.Defaults.MaxResponseBytes
	if r.maxBody == 0 {
		r.maxBody = DefaultMaxResponseBytes
	}
	for i := range spec.Streams {
		st := &spec.Streams[i]
		if st.ForEach != nil {
			r.children[st.ForEach.Stream] = append(r.children[st.ForEach.Stream], st)
		}
	}
	if r.client, err = r.buildClient(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func resolveConfig(spec *integration.Spec, given map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range given {
		if _, ok := spec.Connection.Config[k]; !ok {
			names := make([]string, 0, len(spec.Connection.Config))
			for n := range spec.Connection.Config {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("config %q is not declared by the spec (declared: %s)", k, strings.Join(names, ", "))
		}
		out[k] = v
	}
	for k, cv := range spec.Connection.Config {
		if _, ok := out[k]; ok {
			continue
		}
		if cv.Default != "" {
			out[k] = cv.Default
		} else if cv.Required {
			return nil, fmt.Errorf("config %q is required: pass --config %s=VALUE", k, k)
		}
	}
	return out, nil
}

// expandURL fills a base or token URL's templates. A config value there may
// only hold host-name and path-segment characters: a value such as
// "evil.example/#" would otherwise move the request, and the credential,
// to another host.
func (r *Runner) expandURL(raw string) (*url.URL, error) {
	s, err := integration.Expand(raw, func(ref string) (string, error) {
		v, err := r.lookupConfig(ref)
		if err != nil {
			return "", err
		}
		for _, c := range v {
			if !(c == '.' || c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return "", fmt.Errorf("{%s} = %q: a value used in a URL may hold only letters, digits, '.', '-' and '_'", ref, v)
			}
		}
		return v, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func (r *Runner) lookupConfig(ref string) (string, error) {
	name, ok := strings.CutPrefix(ref, integration.VarConfig+".")
	if !ok {
		return "", fmt.Errorf("{%s} can only use config here", ref)
	}
	v, ok := r.config[name]
	if !ok {
		return "", fmt.Errorf("{%s}: config %q has no value: pass --config %s=VALUE", ref, name, name)
	}
	return v, nil
}

// tokenURL resolves the oauth2 token URL: a path joins the base URL; an
// absolute URL on the spec's own host follows a --base-url override to the
// same place, so a sandbox or test run never sends the client secret to
// the production token host.
func (r *Runner) tokenURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		p, err := integration.Expand(raw, r.lookupConfig, url.PathEscape)
		if err != nil {
			return nil, err
		}
		return r.base.JoinPath(p), nil
	}
	u, err := r.expandURL(raw)
	if err != nil {
		return nil, err
	}
	if r.opts.BaseURL != "" {
		specBase, err := r.expandURL(r.spec.Connection.BaseURL)
		if err != nil || !strings.EqualFold(specBase.Host, u.Host) {
			return nil, fmt.Errorf("%s is not on the base URL's host; with --base-url the token URL must follow it", u.Redacted())
		}
		u.Scheme, u.Host = r.base.Scheme, r.base.Host
	}
	return u, nil
}

type retryCounter struct{}

// buildClient stacks the HTTP layers, outermost first: retry → rate limit
// → auth → per-attempt timeout → host guard → transport. The guard sits
// innermost so it sees every request exactly as it leaves, auth included.
func (r *Runner) buildClient(ctx context.Context) (*http.Client, error) {
	d := r.spec.Defaults
	base := r.opts.Transport
	if base == nil {
		base = &http.Transport{
			Proxy:                 nil, // a proxy would be a second host the credential reaches
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	a := r.spec.Connection.Auth
	var tokenURL string
	var tokenHost *url.URL
	if a.Type == integration.AuthOAuth2ClientCredentials {
		u, err := r.tokenURL(a.TokenURL)
		if err != nil {
			return nil, fmt.Errorf("connection.auth.token_url: %w", err)
		}
		tokenURL, tokenHost = u.String(), u
	}
	// Two guards: API requests (and the credential on them) reach only the
	// base URL's host; the token request reaches only the token URL's.
	guarded := NewHostGuard(base, r.base)
	timeout := d.Timeout.Std()
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rt := NewTimeout(guarded, timeout)

	var secret Secret
	if a.Type != integration.AuthNone && a.Type != "" {
		if r.opts.Secrets == nil {
			return nil, fmt.Errorf("the spec authenticates with %s but no credential source was given: pass --credential-env VAR", a.Type)
		}
		var err error
		if secret, err = r.opts.Secrets.Resolve(ctx, a.Credential); err != nil {
			return nil, r.red.Error(err)
		}
		r.red.Add(secret.Reveal())
	}
	username, err := integration.Expand(a.Username, r.lookupConfig, nil)
	if err != nil {
		return nil, fmt.Errorf("connection.auth.username: %w", err)
	}
	clientID, err := integration.Expand(a.ClientID, r.lookupConfig, nil)
	if err != nil {
		return nil, fmt.Errorf("connection.auth.client_id: %w", err)
	}
	var tokenRT http.RoundTripper
	if tokenHost != nil {
		tokenRT = NewTimeout(NewHostGuard(base, tokenHost), timeout)
	}
	rt, err = NewAuth(rt, a, username, clientID, tokenURL, secret, tokenRT, r.red)
	if err != nil {
		return nil, r.red.Error(err)
	}
	// Above auth: the log sees each attempt without the credential on it.
	rt = NewRequestLog(rt, r.log, r.red)
	maxWait := 5 * time.Minute
	if d.Retry != nil && d.Retry.MaxWait != 0 {
		maxWait = d.Retry.MaxWait.Std()
	}
	rt = NewRateLimiter(rt, d.RateLimit, maxWait, r.opts.Now)
	rt = NewRetry(rt, d.Retry, func(req *http.Request, attempt int, reason string) {
		if c, ok := req.Context().Value(retryCounter{}).(*atomic.Int64); ok {
			c.Add(1)
		}
		r.log.Debug("retry", "url", r.red.String(req.URL.Redacted()), "attempt", attempt, "reason", r.red.String(reason))
	})
	return &http.Client{
		Transport: rt,
		// Redirects are followed only within the guarded stack (the guard
		// refuses other hosts), and never more than a few times.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		},
	}, nil
}

// streamRun accumulates one stream's result across its walks (one walk for
// a top-level stream, one per parent record for a for_each child).
type streamRun struct {
	st      *integration.Stream
	mapper  *mapper
	start   time.Time
	retries atomic.Int64

	mu                              sync.Mutex
	res                             store.StreamResult
	walks, complete, denied, failed int
	parentIncomplete, recordErrs    bool
	errCount                        int
	// parentResult is the worst result of a parent walk, which decides
	// the outcome of a child that never ran.
	parentResult walkResult
	// set counts, per mapped field (mapper.progs.Fields order), the stored
	// records where it came out non-null; attrSet the same per attribute
	// key seen (at most maxAttrKeys). Nulls are the records minus these,
	// so a field that is absent and one that is null count alike.
	set     []int
	attrSet map[string]int
	sem     chan struct{}
	wg      sync.WaitGroup
}

const maxErrorsKept = 20

// maxAttrKeys bounds the attribute keys whose null rates a stream keeps:
// a vendor object keyed by ids must not grow memory with the record count.
const maxAttrKeys = 64

// countSet adds one stored record's non-null fields (set: mapRecord's
// bits) to the stream's counts. The caller holds s.mu.
func (s *streamRun) countSet(set uint64, attrs map[string]any) {
	for ; set != 0; set &= set - 1 {
		s.set[bits.TrailingZeros64(set)]++
	}
	if s.attrSet == nil {
		return // the map sets no attributes
	}
	for k, v := range attrs {
		n, seen := s.attrSet[k]
		if !seen && len(s.attrSet) >= maxAttrKeys {
			continue
		}
		if v != nil {
			n++
		}
		s.attrSet[k] = n
	}
}

// nulls is the stream's null count per mapped field (every field, zero
// included, so a run that counted is told apart from one that did not)
// and per attribute key seen, as "attributes.<key>". Nil when the stream
// stored no record: a rate of nothing says nothing.
func (s *streamRun) nulls() map[string]int {
	if s.mapper == nil || s.res.Records == 0 {
		return nil
	}
	out := make(map[string]int, len(s.set)+len(s.attrSet))
	for i, f := range s.mapper.progs.Fields {
		if i < len(s.set) {
			out[f] = s.res.Records - s.set[i]
		}
	}
	for k, n := range s.attrSet {
		out["attributes."+k] = s.res.Records - n
	}
	return out
}

func (s *streamRun) addError(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errCount++
	if len(s.res.Errors) < maxErrorsKept {
		s.res.Errors = append(s.res.Errors, msg)
	}
}

// outcome folds the walks into the stream's outcome. Only a stream whose
// every walk completed — and whose parent saw all its records — may mark
// absent entities gone.
func (s *streamRun) outcome() store.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.walks == 0 && s.parentIncomplete:
		// Never ran: what could not be seen above cannot be seen here.
		// A refused parent makes its children unverifiable too.
		switch s.parentResult {
		case walkDenied:
			return store.Denied
		case walkFailed:
			return store.Failed
		default:
			return store.Partial
		}
	case s.walks > 0 && s.denied == s.walks && !s.parentIncomplete:
		return store.Denied
	case s.walks > 0 && s.failed+s.denied == s.walks && s.failed > 0:
		return store.Failed
	case s.complete == s.walks && !s.parentIncomplete && !s.recordErrs:
		return store.Complete
	default:
		return store.Partial
	}
}

// Run executes every stream and hands records and outcomes to sink. It
// returns an error only when the run itself cannot go on (the sink failed,
// ctx was cancelled); vendor failures are in the report's streams.
func (r *Runner) Run(ctx context.Context, sink Sink) (*Report, error) {
	rep := &Report{Source: r.spec.Metadata.Name, StartedAt: r.opts.Now().UTC()}
	runs := map[string]*streamRun{}
	for i := range r.spec.Streams {
		st := &r.spec.Streams[i]
		sr := &streamRun{st: st, res: store.StreamResult{Stream: st.Name}}
		if st.Emits != "" {
			sr.mapper = &mapper{source: rep.Source, stream: st, progs: r.progs.Streams[st.Name], emits: nhi.Kind(st.Emits)}
			sr.set = make([]int, len(sr.mapper.progs.Fields))
			if _, ok := st.Map["attributes"]; ok {
				sr.attrSet = map[string]int{}
			}
		}
		conc := r.spec.Defaults.Concurrency
		if st.ForEach != nil && st.ForEach.Concurrency > 0 {
			conc = st.ForEach.Concurrency
		}
		if conc <= 0 {
			conc = 4
		}
		sr.sem = make(chan struct{}, conc)
		runs[st.Name] = sr
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x := &execution{r: r, sink: sink, cancel: cancel, runs: runs}
	for i := range r.spec.Streams {
		st := &r.spec.Streams[i]
		if st.ForEach != nil {
			continue
		}
		sr := runs[st.Name]
		sr.start = time.Now()
		x.walk(ctx, sr, nil)
		// Finish the stream and then its descendants, parents first, once
		// every fan-out below it has drained.
		order := []*streamRun{sr}
		for j := 0; j < len(order); j++ {
			order[j].wg.Wait()
			for _, c := range r.children[order[j].st.Name] {
				order = append(order, runs[c.Name])
			}
		}
		for _, o := range order {
			o.wg.Wait()
		}
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		for _, o := range order {
			res := r.finish(o)
			if err := r.sinkEnd(ctx, sink, res); err != nil {
				return nil, err
			}
			rep.Streams = append(rep.Streams, res)
			rep.Records += res.Records
		}
	}
	rep.FinishedAt = r.opts.Now().UTC()
	rep.Status = store.RunStatus(rep.Streams)
	return rep, nil
}

func (r *Runner) finish(sr *streamRun) store.StreamResult {
	sr.res.Outcome = sr.outcome()
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.walks == 0 && sr.parentIncomplete && sr.st.ForEach != nil {
		sr.res.Errors = append(sr.res.Errors, fmt.Sprintf("not read: its for_each parent %s did not complete, so its records could not be checked", sr.st.ForEach.Stream))
	}
	sr.res.Retries = int(sr.retries.Load())
	sr.res.Nulls = sr.nulls()
	if !sr.start.IsZero() {
		sr.res.Duration = time.Since(sr.start)
	}
	if sr.errCount > len(sr.res.Errors) {
		sr.res.Errors = append(sr.res.Errors, fmt.Sprintf("… and %d more errors", sr.errCount-len(sr.res.Errors)))
	}
	return sr.res
}

func (r *Runner) sinkPut(ctx context.Context, sink Sink, stream string, rec *nhi.Record) error {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	return sink.Put(ctx, stream, rec)
}

func (r *Runner) sinkEnd(ctx context.Context, sink Sink, res store.StreamResult) error {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	return sink.EndStream(ctx, res)
}

// execution is one Run: its sink, its streams and the way to abort it.
type execution struct {
	r      *Runner
	sink   Sink
	cancel context.CancelCauseFunc
	runs   map[string]*streamRun
}

// walkResult is how one walk ended.
type walkResult int

const (
	walkComplete walkResult = iota
	walkPartial
	walkDenied
	walkFailed
)

// walk reads every page of one stream for one parent context, maps the
// records and fans out to child streams. Sink failures cancel the run.
func (x *execution) walk(ctx context.Context, sr *streamRun, parent *parentCtx) {
	r, runs := x.r, x.runs
	res := x.walkPages(ctx, sr, parent)
	sr.mu.Lock()
	sr.walks++
	switch res {
	case walkComplete:
		sr.complete++
	case walkDenied:
		sr.denied++
	case walkFailed:
		sr.failed++
	}
	sr.mu.Unlock()
	if res != walkComplete {
		// The children did not see every parent record.
		for _, c := range r.children[sr.st.Name] {
			markIncomplete(runs, r.children, runs[c.Name], res)
		}
	}
}

func markIncomplete(runs map[string]*streamRun, children map[string][]*integration.Stream, sr *streamRun, res walkResult) {
	sr.mu.Lock()
	sr.parentIncomplete = true
	if res > sr.parentResult {
		sr.parentResult = res
	}
	sr.mu.Unlock()
	for _, c := range children[sr.st.Name] {
		markIncomplete(runs, children, runs[c.Name], res)
	}
}

func (x *execution) walkPages(ctx context.Context, sr *streamRun, parent *parentCtx) walkResult {
	r := x.r
	st := sr.st
	pgCfg := st.Pagination
	if pgCfg == nil {
		pgCfg = r.spec.Defaults.Pagination
	}
	pg := newPager(pgCfg)
	maxPages := pg.p.MaxPages
	if maxPages == 0 {
		maxPages = r.opts.MaxPages
	}
	if maxPages == 0 {
		maxPages = DefaultMaxPages
	}
	u, hdr, body, err := r.firstRequest(st, parent, pg)
	if err != nil {
		sr.addError(err.Error())
		return walkFailed
	}
	runCtx := ctx // children outlive this walk's prefetch context
	ctx = context.WithValue(ctx, retryCounter{}, &sr.retries)
	seen := map[string]bool{u.String(): true}
	act := &activation{config: r.config, parents: parent}
	if maxPages < 1 {
		maxPages = 1
	}
	// Prefetch: the next page's request goes out while this page is
	// mapped, so network and mapping overlap. At most one page is in
	// flight per walk, so memory stays bounded.
	ctx, stopPrefetch := context.WithCancel(ctx)
	defer stopPrefetch()
	type fetched struct {
		resp *http.Response
		buf  *bytes.Buffer
		data []byte
		err  error
	}
	start := func(u *url.URL) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			buf, _ := r.bufs.Get().(*bytes.Buffer)
			if buf == nil {
				buf = new(bytes.Buffer)
			}
			resp, data, err := r.fetch(ctx, st, u, hdr, body, buf)
			ch <- fetched{resp, buf, data, err}
		}()
		return ch
	}
	pending := start(u)
	for page := 1; ; page++ {
		f := <-pending
		resp, data, err := f.resp, f.data, f.err
		sr.mu.Lock()
		sr.res.Requests++
		sr.mu.Unlock()
		if ctx.Err() != nil {
			return walkFailed
		}
		if err != nil {
			sr.addError(r.red.String(fmt.Sprintf("page %d: %v", page, err)))
			var pe *PolicyError
			if errors.As(err, &pe) {
				r.log.Warn("policy violation", "stream", st.Name, "rule", pe.Rule, "host", pe.Host)
			}
			return walkFailed
		}
		if resp.StatusCode == 401 || resp.StatusCode == 403 || resp.StatusCode == 404 {
			sr.addError(r.red.String(fmt.Sprintf("page %d: %s %s answered %s: the credential cannot see this list; its entities are kept and marked unverified%s",
				page, st.Request.MethodOrGet(), u.Redacted(), resp.Status, snippet(r.red, data))))
			return walkDenied
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			sr.addError(r.red.String(fmt.Sprintf("page %d: %s %s answered %s%s", page, st.Request.MethodOrGet(), u.Redacted(), resp.Status, snippet(r.red, data))))
			return walkFailed
		}
		doc, err := decoderFor(resp.Header.Get("Content-Type"), r.opts.Decoders).Decode(data)
		// Decoders copy what they keep, so the page buffer can be reused.
		if f.buf.Cap() <= 4<<20 {
			r.bufs.Put(f.buf)
		}
		data = nil
		if err != nil {
			sr.addError(r.red.String(fmt.Sprintf("page %d: %s: %v", page, u.Redacted(), err)))
			return walkFailed
		}
		if msg, bad := r.bodyError(st, act, doc, resp.StatusCode); bad {
			sr.addError(r.red.String(fmt.Sprintf("page %d: error_when matched: %s", page, msg)))
			return walkFailed
		}
		items, pageLen, err := records(doc, st.Records)
		if err != nil {
			sr.addError(fmt.Sprintf("page %d: %v", page, err))
			return walkFailed
		}
		sr.mu.Lock()
		sr.res.Pages++
		sr.mu.Unlock()

		// Decide the next page before mapping this one; act on a stop
		// only after this page's records are in.
		next, nextErr := pg.next(u, resp, doc, pageLen)
		var stop walkResult = -1
		switch {
		case nextErr != nil:
			sr.addError(fmt.Sprintf("page %d: %v", page, nextErr))
			stop = walkFailed
		case next == nil:
			stop = walkComplete
		case seen[next.String()]:
			sr.addError(fmt.Sprintf("page %d: the API sent the same next page again (%s); stopped to avoid a loop", page, r.red.String(next.Redacted())))
			sr.setStop(StopRepeatedCursor)
			stop = walkPartial
		case page+1 > maxPages:
			sr.addError(fmt.Sprintf("stopped after %d pages (max_pages); raise pagination.max_pages if the list is really this long", maxPages))
			sr.setStop(StopMaxPages)
			stop = walkPartial
		default:
			seen[next.String()] = true
			pending = start(next)
		}

		if !x.emit(runCtx, sr, act, parent, page, items) {
			return walkFailed
		}
		r.progress(sr)
		if stop >= 0 {
			return stop
		}
		u = next
	}
}

// emit maps one page's records into the sink and fans out to children. It
// returns false when the run must stop.
func (x *execution) emit(ctx context.Context, sr *streamRun, act *activation, parent *parentCtx, page int, items []any) bool {
	r, st := x.r, sr.st
	for i, item := range items {
		if sr.mapper != nil {
			act.rec = item
			rec, set, field, err := sr.mapper.mapRecord(act)
			if err == nil {
				err = scrubRecord(rec, r.red)
			}
			if err != nil {
				if field == "" {
					field = "(record)"
				}
				me := &MappingError{Stream: st.Name, Page: page, Index: i, Field: field, Err: err}
				sr.addError(r.red.String(me.Error()))
				sr.mu.Lock()
				sr.recordErrs = true
				sr.mu.Unlock()
			} else {
				err := r.sinkPut(ctx, x.sink, st.Name, rec)
				switch {
				case errors.Is(err, store.ErrInvalidRecord):
					// Refused before any write: report it like a mapping error.
					sr.addError(r.red.String(fmt.Sprintf("stream %s, page %d, record %d: %v", st.Name, page, i, err)))
					sr.mu.Lock()
					sr.recordErrs = true
					sr.mu.Unlock()
				case err != nil:
					x.cancel(fmt.Errorf("storing stream %s: %w", st.Name, err))
					return false
				default:
					sr.mu.Lock()
					sr.res.Records++
					sr.countSet(set, rec.Attributes)
					sr.mu.Unlock()
				}
			}
		}
		for _, c := range r.children[st.Name] {
			child := x.runs[c.Name]
			pc := &parentCtx{alias: c.ForEach.As, rec: item, up: parent}
			select {
			case child.sem <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			child.wg.Add(1)
			child.mu.Lock()
			if child.start.IsZero() {
				child.start = time.Now()
			}
			child.mu.Unlock()
			go func() {
				defer child.wg.Done()
				defer func() { <-child.sem }()
				x.walk(ctx, child, pc)
			}()
		}
	}
	return true
}

func (s *streamRun) setStop(reason string) {
	s.mu.Lock()
	s.res.StopReason = reason
	s.mu.Unlock()
}

// firstRequest builds the first page's URL, headers and body.
func (r *Runner) firstRequest(st *integration.Stream, parent *parentCtx, pg *pager) (*url.URL, http.Header, []byte, error) {
	resolve := func(ref string) (string, error) {
		if strings.HasPrefix(ref, integration.VarConfig+".") {
			return r.lookupConfig(ref)
		}
		alias, path, _ := strings.Cut(ref, ".")
		rec, ok := parent.get(alias)
		if !ok {
			return "", fmt.Errorf("{%s}: no for_each alias %q", ref, alias)
		}
		v, ok := lookup(rec, path)
		if !ok {
			return "", fmt.Errorf("{%s}: the parent record has no field %q", ref, path)
		}
		s, err := scalarString(v)
		if err != nil {
			return "", fmt.Errorf("{%s}: %v", ref, err)
		}
		if s == "" {
			return "", fmt.Errorf("{%s} is empty in the parent record", ref)
		}
		return s, nil
	}
	where := "stream " + st.Name
	path, err := integration.Expand(st.Request.Path, resolve, url.PathEscape)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: request.path: %w", where, err)
	}
	u := r.base.JoinPath(path)
	q := url.Values{}
	for _, m := range []map[string]string{r.spec.Defaults.Query, st.Request.Query} {
		for k, v := range m {
			ev, err := integration.Expand(v, resolve, nil)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: query %s: %w", where, k, err)
			}
			q.Set(k, ev)
		}
	}
	pg.first(q)
	u.RawQuery = q.Encode()
	h := http.Header{}
	h.Set("User-Agent", "spindle/1")
	h.Set("Accept", "application/json")
	for _, m := range []map[string]string{r.spec.Defaults.Headers, st.Request.Headers} {
		for k, v := range m {
			ev, err := integration.Expand(v, resolve, nil)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: header %s: %w", where, k, err)
			}
			h.Set(k, ev)
		}
	}
	var body []byte
	if st.Request.Body != "" {
		body = []byte(st.Request.Body)
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
	}
	return u, h, body, nil
}

// fetch does one request (the layers below retry it) and reads the body
// within the size cap.
func (r *Runner) fetch(ctx context.Context, st *integration.Stream, u *url.URL, h http.Header, body []byte, buf *bytes.Buffer) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, st.Request.MethodOrGet(), u.String(), rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header = h.Clone()
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, r.red.Error(err)
	}
	data, err := ReadBodyInto(resp, r.maxBody, buf)
	if err != nil {
		return nil, nil, r.red.Error(fmt.Errorf("%s %s: %w", req.Method, u.Redacted(), err))
	}
	return resp, data, nil
}

// bodyError evaluates error_when for APIs that report errors inside a 2xx
// body.
func (r *Runner) bodyError(st *integration.Stream, act *activation, doc any, status int) (string, bool) {
	p := r.progs.Streams[st.Name]
	if p.ErrorWhen == nil {
		return "", false
	}
	a := *act
	a.rec, a.body, a.status = nil, doc, int64(status)
	out, _, err := p.ErrorWhen.Eval(&a)
	if err != nil {
		return "error_when could not be evaluated: " + err.Error(), true
	}
	if b, ok := out.Value().(bool); !ok || !b {
		return "", false
	}
	msg := "the response reports an error"
	if p.ErrorMessage != nil {
		if m, _, err := p.ErrorMessage.Eval(&a); err == nil {
			msg = fmt.Sprint(native(m))
		}
	}
	return msg, true
}

// records finds the record list at path. A missing or non-list value is
// an error, never an empty page: an API that changed its envelope must
// fail loudly.
func records(doc any, path string) (items []any, pageLen int, err error) {
	// "a.*.b": the records are the b lists of every element of the a list,
	// flattened (a list embedded in each record of a parent list). Paging
	// counts the outer list: that is what the page size bounds.
	outer, inner, ok := strings.Cut(path, ".*.")
	if rest, bare := strings.CutPrefix(path, "*."); bare {
		outer, inner, ok = "", rest, true
	}
	if ok && !strings.HasPrefix(path, "/") {
		parents, _, err := records(doc, outer)
		if err != nil {
			return nil, 0, err
		}
		for i, p := range parents {
			v, ok := lookup(p, inner)
			switch t := v.(type) {
			case []any:
				items = append(items, t...)
			case nil: // absent or null: this parent embeds none
			default:
				if ok {
					return nil, 0, fmt.Errorf("records path %q: element %d of %q holds %s at %q, want an array", path, i, outer, typeName(v), inner)
				}
			}
		}
		return items, len(parents), nil
	}
	v, ok := lookup(doc, path)
	if !ok {
		return nil, 0, fmt.Errorf("records path %q is not in the response%s; fix the stream's records", path, keysHint(doc))
	}
	switch t := v.(type) {
	case []any:
		return t, len(t), nil
	case nil:
		return nil, 0, nil
	default:
		return nil, 0, fmt.Errorf("records path %q holds %s, want an array%s", path, typeName(v), keysHint(v))
	}
}

func keysHint(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 12 {
		keys = append(keys[:12], "…")
	}
	return " (its keys: " + strings.Join(keys, ", ") + ")"
}

// snippet quotes the start of an error body for the report, redacted
// before it is cut so no part of a secret survives the cut.
func snippet(red *Redactor, b []byte) string {
	s := strings.TrimSpace(red.String(string(b)))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + strings.ToValidUTF8(s, "?")
}

func (r *Runner) progress(sr *streamRun) {
	if r.opts.Progress == nil {
		return
	}
	sr.mu.Lock()
	p := Progress{Stream: sr.st.Name, Pages: sr.res.Pages, Records: sr.res.Records, Retries: int(sr.retries.Load())}
	sr.mu.Unlock()
	r.sinkMu.Lock() // progress callbacks are serialised like the sink
	defer r.sinkMu.Unlock()
	r.opts.Progress(p)
}

// Package drift compares two versions of a vendor's API document and keeps
// only the changes that touch what one integration uses: the operations its
// streams request, their parameters, the response fields its mapping and
// paging read, its records path and its auth scheme. Everything else in the
// doc is counted and ignored, so a vendor's daily churn does not page
// anyone, while a removed field the mapping reads does.
//
// The raw changes come from libopenapi's what-changed model (it loads real,
// imperfect docs that stricter diff tools refuse); the API surface
// (internal/apisurface) says which doc operation each stream requests and
// which component schemas its fields live in.
package drift

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/what-changed/model"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// Change kinds.
const (
	Breaking    = "breaking"
	NonBreaking = "non-breaking"
	Deprecation = "deprecation"
)

// Options tune a diff.
type Options struct {
	// Surface loads both docs (HTTP client, size bound).
	Surface apisurface.Options
}

// Doc identifies one version of the doc.
type Doc struct {
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
}

// Change is one change that matters to the integration.
type Change struct {
	Kind      string `json:"kind"`                // breaking, non-breaking, deprecation
	Operation string `json:"operation,omitempty"` // "GET /api/v1/apps"; "" for doc-wide items (auth)
	// Path is where in the operation the change is: "response.body.[].label",
	// "parameter.query.limit", "security.api_token".
	Path   string `json:"path"`
	What   string `json:"what"`
	Stream string `json:"stream,omitempty"` // the stream it affects; "" when it affects every stream (auth)
	// Action says what to do about it.
	Action string `json:"action,omitempty"`
}

// Report is what changed between two doc versions that matters to a spec.
type Report struct {
	Old          Doc      `json:"old"`
	New          Doc      `json:"new"`
	Breaking     []Change `json:"breaking"`
	NonBreaking  []Change `json:"non_breaking"`
	Deprecations []Change `json:"deprecations"`
	// Coverage lists NHI list operations new in the new doc that no stream
	// reads: "GET /path (kind)".
	Coverage []string `json:"coverage"`
	// Total is every change libopenapi found; Ignored those that touch
	// nothing the integration uses.
	Total   int    `json:"total"`
	Ignored int    `json:"ignored"`
	Summary string `json:"summary"`
	// Unmatched lists streams whose operation the old doc does not
	// describe, so nothing can be said about them.
	Unmatched []string      `json:"unmatched,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// HasBreaking says the integration is likely to fail against the new doc.
func (r *Report) HasBreaking() bool { return len(r.Breaking) > 0 }

// Diff compares oldDoc with newDoc (file paths or http(s) URLs) and keeps
// the changes that matter to spec.
func Diff(ctx context.Context, oldDoc, newDoc string, spec *integration.Spec, o Options) (*Report, error) {
	if spec == nil {
		return nil, fmt.Errorf("drift: no spec given")
	}
	start := time.Now()
	// The two surfaces and the comparison are independent reads of the
	// docs: run them side by side.
	var (
		oldSurf, newSurf *apisurface.Surface
		changes          *model.DocumentChanges
		errs             [3]error
		wg               sync.WaitGroup
	)
	wg.Go(func() { oldSurf, errs[0] = apisurface.Load(ctx, DocPath(oldDoc), o.Surface) })
	wg.Go(func() { newSurf, errs[1] = apisurface.Load(ctx, DocPath(newDoc), o.Surface) })
	wg.Go(func() { changes, errs[2] = compare(ctx, oldDoc, newDoc, o) })
	wg.Wait()
	if errs[0] != nil {
		return nil, fmt.Errorf("drift: old doc: %w", errs[0])
	}
	if errs[1] != nil {
		return nil, fmt.Errorf("drift: new doc: %w", errs[1])
	}
	if errs[2] != nil {
		return nil, errs[2]
	}
	d := &differ{spec: spec, old: oldSurf, new: newSurf, dc: changes, kept: map[*model.Change]bool{}, seen: map[string]bool{}}
	d.run()
	r := &Report{
		Old:          Doc{Location: oldDoc, SHA256: oldSurf.Source.SHA256},
		New:          Doc{Location: newDoc, SHA256: newSurf.Source.SHA256},
		Breaking:     []Change{},
		NonBreaking:  []Change{},
		Deprecations: []Change{},
		Coverage:     d.coverage(),
		Unmatched:    d.unmatched,
	}
	for _, c := range d.out {
		switch c.Kind {
		case Breaking:
			r.Breaking = append(r.Breaking, c)
		case Deprecation:
			r.Deprecations = append(r.Deprecations, c)
		default:
			r.NonBreaking = append(r.NonBreaking, c)
		}
	}
	if changes != nil {
		r.Total = changes.TotalChanges()
	}
	r.Ignored = max(r.Total-len(d.kept), 0)
	r.Summary = fmt.Sprintf("%d breaking, %d non-breaking, %d deprecation(s) affect %s; %d new NHI list operation(s) not read; %d of %d changes elsewhere in the doc were ignored",
		len(r.Breaking), len(r.NonBreaking), len(r.Deprecations), spec.Metadata.Name, len(r.Coverage), r.Ignored, r.Total)
	r.Elapsed = time.Since(start)
	return r, nil
}

// compare runs libopenapi's what-changed over the two docs. Model-building
// errors of imperfect docs (a dangling example ref) are tolerated as long
// as both models are built: that is the point of using it.
func compare(ctx context.Context, oldDoc, newDoc string, o Options) (*model.DocumentChanges, error) {
	l, err := openDoc(ctx, oldDoc, o)
	if err != nil {
		return nil, fmt.Errorf("drift: old doc: %w", err)
	}
	r, err := openDoc(ctx, newDoc, o)
	if err != nil {
		return nil, fmt.Errorf("drift: new doc: %w", err)
	}
	dc, err := libopenapi.CompareDocuments(l, r)
	if dc == nil && err != nil {
		return nil, fmt.Errorf("drift: compare: %w", err)
	}
	return dc, nil
}

func openDoc(ctx context.Context, loc string, o Options) (libopenapi.Document, error) {
	b, err := readDoc(ctx, loc, o)
	if err != nil {
		return nil, err
	}
	cfg := datamodel.NewDocumentConfiguration()
	// Its default logger writes every dangling ref of an imperfect doc to
	// stdout; the surface already reports those as warnings.
	cfg.Logger = slog.New(slog.DiscardHandler)
	if !isURL(loc) {
		// Multi-file docs: relative $refs resolve next to the entry file.
		cfg.BasePath = filepath.Dir(DocPath(loc))
		cfg.AllowFileReferences = true
	}
	return libopenapi.NewDocumentWithConfiguration(b, cfg)
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func readDoc(ctx context.Context, loc string, o Options) ([]byte, error) {
	return fetchDoc(ctx, loc, o)
}

// differ walks the what-changed tree along what one spec uses.
type differ struct {
	spec      *integration.Spec
	old, new  *apisurface.Surface
	dc        *model.DocumentChanges
	kept      map[*model.Change]bool // what-changed changes attributed to something used
	seen      map[string]bool        // report dedupe: stream|path|kind
	out       []Change
	unmatched []string
	read      map[string]bool // old-doc operations the streams read, "GET /path"
}

func (d *differ) add(c Change, src *model.Change) {
	if src != nil {
		d.kept[src] = true
	}
	// One change met through several read fields (a container's
	// deprecation), or recorded twice by what-changed (under a component
	// and under the schema that referenced it), is one entry per stream.
	key := c.Stream + "|" + c.Operation + "|" + c.Path + "|" + c.Kind + "|" + c.What
	if src != nil {
		key = fmt.Sprintf("%s|%s|%s|%s|%d|%s|%s", c.Stream, c.Operation, c.Path, src.Property, src.ChangeType, src.Original, src.New)
	}
	if d.seen[key] {
		return
	}
	d.seen[key] = true
	if c.Action == "" {
		c.Action = action(c.Kind)
	}
	d.out = append(d.out, c)
}

func action(kind string) string {
	switch kind {
	case Breaking:
		return "rebuild the integration against the new doc and review the proposal before the next sync"
	case Deprecation:
		return "plan a move off it before the vendor removes it"
	}
	return "none needed; review at the next rebuild"
}

func (d *differ) run() {
	d.read = map[string]bool{}
	d.auth()
	for _, st := range d.spec.Streams {
		op := d.old.MatchOperation(d.spec.Connection.BaseURL, st.Request.MethodOrGet(), st.Request.Path)
		if op == nil {
			d.unmatched = append(d.unmatched, st.Name)
			continue
		}
		d.read[op.Method+" "+op.Path] = true
		d.stream(st, op)
	}
	sort.SliceStable(d.out, func(i, j int) bool {
		a, b := d.out[i], d.out[j]
		if a.Stream != b.Stream {
			return a.Stream < b.Stream
		}
		return a.Path < b.Path
	})
}

// auth keeps changes to the security scheme the spec authenticates with.
func (d *differ) auth() {
	a := d.spec.Connection.Auth
	if a.Type == "" || a.Type == integration.AuthNone {
		return
	}
	name := d.old.MatchScheme(a.Type, a.Name)
	if name == "" {
		return
	}
	path := "components.securitySchemes." + name
	if d.new.MatchScheme(a.Type, a.Name) == "" {
		var src *model.Change
		if cc := d.components(); cc != nil {
			for _, c := range changesOf(cc.PropertyChanges) {
				if c.Original == name && isRemoval(c) {
					src = c
				}
			}
		}
		d.add(Change{Kind: Breaking, Path: path, What: fmt.Sprintf("the %s auth scheme %q the integration uses is gone from the doc", a.Type, name)}, src)
	}
	cc := d.components()
	if cc == nil || cc.SecuritySchemeChanges[name] == nil {
		return
	}
	for _, c := range cc.SecuritySchemeChanges[name].GetAllChanges() {
		kind := NonBreaking
		switch c.Property {
		case "type", "in", "name", "scheme", "tokenUrl", "flows", "clientCredentials":
			kind = Breaking
		}
		d.add(Change{Kind: kind, Path: path + "." + c.Property, What: describe("auth scheme "+name, c)}, c)
	}
}

func (d *differ) components() *model.ComponentsChanges {
	if d.dc == nil {
		return nil
	}
	return d.dc.ComponentsChanges
}

func (d *differ) stream(st integration.Stream, op *apisurface.Operation) {
	opName := op.Method + " " + op.Path
	add := func(kind, path, what string, src *model.Change) {
		d.add(Change{Kind: kind, Operation: opName, Path: path, What: what, Stream: st.Name}, src)
	}
	// The operation itself: gone from the new doc (the path, or its method).
	if d.new.MatchOperation(d.spec.Connection.BaseURL, st.Request.MethodOrGet(), st.Request.Path) == nil {
		add(Breaking, "operation", "the operation the stream requests is gone from the new doc", d.removal(op))
		return
	}
	var pc *model.PathItemChanges
	if d.dc != nil && d.dc.PathsChanges != nil {
		pc = d.dc.PathsChanges.PathItemsChanges[op.Path]
	}
	// Component schemas the response uses change under components, not
	// under the path: the fields are checked even when the path is as was.
	var oc *model.OperationChanges
	if pc != nil {
		oc = methodChanges(pc, op.Method)
	}
	d.response(st, op, oc, add)
	if pc == nil {
		return
	}
	used := d.usedParams(st, op)
	params := append([]*model.ParameterChanges{}, pc.ParameterChanges...)
	var opLevel []*model.Change
	if pc.PropertyChanges != nil {
		for _, c := range pc.Changes {
			if c.Property == "parameters" {
				opLevel = append(opLevel, c)
			}
		}
	}
	if oc != nil {
		params = append(params, oc.ParameterChanges...)
		opLevel = append(opLevel, changesOf(oc.PropertyChanges)...)
		for _, sr := range oc.SecurityRequirementChanges {
			for _, c := range changesOf(sr.PropertyChanges) {
				kind := NonBreaking
				if isRemoval(c) && d.usesScheme(c.Original) {
					kind = Breaking
				}
				add(kind, "security", describe("the operation's security requirement", c), c)
			}
		}
	}
	for _, c := range opLevel {
		switch c.Property {
		case "parameters":
			name := c.Original
			if c.ChangeType == model.ObjectAdded || c.ChangeType == model.PropertyAdded {
				name = c.New
				if p := param(d.new.MatchOperation(d.spec.Connection.BaseURL, op.Method, st.Request.Path), name); p != nil && p.Required && !used[name] {
					add(Breaking, "parameter."+p.In+"."+name, fmt.Sprintf("new required %s parameter %q the stream does not send", p.In, name), c)
				} else {
					add(NonBreaking, "parameter."+name, fmt.Sprintf("new optional parameter %q", name), c)
				}
				continue
			}
			if used[name] {
				add(Breaking, "parameter."+name, fmt.Sprintf("parameter %q the stream sends was removed", name), c)
			} else {
				add(NonBreaking, "parameter."+name, fmt.Sprintf("parameter %q (the stream does not send it) was removed", name), c)
			}
		case "deprecated":
			if c.New == "true" {
				add(Deprecation, "operation", "the operation the stream requests is deprecated", c)
			} else {
				add(NonBreaking, "operation", describe("the operation's deprecated flag", c), c)
			}
		case "description", "summary", "operationId", "tags":
			add(NonBreaking, "operation."+c.Property, describe("the operation's "+c.Property, c), c)
		}
	}
	for _, p := range params {
		if p == nil {
			continue
		}
		for _, c := range p.GetAllChanges() {
			path := "parameter." + p.Name + "." + c.Property
			switch {
			case c.Property == "required" && c.New == "true" && !used[p.Name]:
				add(Breaking, path, fmt.Sprintf("parameter %q became required and the stream does not send it", p.Name), c)
			case !used[p.Name]:
				// A change to a parameter the stream never sends cannot affect it.
			case c.Property == "deprecated" && c.New == "true":
				add(Deprecation, path, fmt.Sprintf("parameter %q the stream sends is deprecated", p.Name), c)
			case c.Property == "type" || c.Property == "in" || c.Property == "name" || c.Property == "enum" && isRemoval(c):
				add(Breaking, path, describe(fmt.Sprintf("parameter %q the stream sends", p.Name), c), c)
			default:
				add(NonBreaking, path, describe(fmt.Sprintf("parameter %q the stream sends", p.Name), c), c)
			}
		}
	}
}

// removal finds the what-changed change that removed op (its path, or its
// method on a path that stays), so it counts as kept.
func (d *differ) removal(op *apisurface.Operation) *model.Change {
	if d.dc == nil || d.dc.PathsChanges == nil {
		return nil
	}
	for _, c := range changesOf(d.dc.PathsChanges.PropertyChanges) {
		if c.Property == op.Path && isRemoval(c) {
			return c
		}
	}
	if pc := d.dc.PathsChanges.PathItemsChanges[op.Path]; pc != nil {
		for _, c := range changesOf(pc.PropertyChanges) {
			if strings.EqualFold(c.Property, op.Method) && isRemoval(c) {
				return c
			}
		}
	}
	return nil
}

// usedParams are the parameters a stream sends: its query keys, its
// paging parameters and the path's placeholders.
func (d *differ) usedParams(st integration.Stream, op *apisurface.Operation) map[string]bool {
	u := map[string]bool{}
	for k := range st.Request.Query {
		u[k] = true
	}
	for k := range d.spec.Defaults.Query {
		u[k] = true
	}
	for k := range st.Request.Headers {
		u[k] = true
	}
	if p := paging(d.spec, st); p != nil {
		for _, n := range []string{p.SizeParam, p.LimitParam, p.OffsetParam, p.PageParam, p.CursorParam} {
			if n != "" {
				u[n] = true
			}
		}
	}
	for _, p := range op.Parameters {
		if p.In == "path" {
			u[p.Name] = true
		}
	}
	return u
}

func paging(sp *integration.Spec, st integration.Stream) *integration.Pagination {
	if st.Pagination != nil {
		return st.Pagination
	}
	return sp.Defaults.Pagination
}

func (d *differ) usesScheme(name string) bool {
	a := d.spec.Connection.Auth
	return name != "" && strings.Contains(name, d.old.MatchScheme(a.Type, a.Name)) && d.old.MatchScheme(a.Type, a.Name) != ""
}

func param(op *apisurface.Operation, name string) *apisurface.Parameter {
	if op == nil {
		return nil
	}
	for i := range op.Parameters {
		if op.Parameters[i].Name == name {
			return &op.Parameters[i]
		}
	}
	return nil
}

func methodChanges(pc *model.PathItemChanges, method string) *model.OperationChanges {
	switch method {
	case "GET":
		return pc.GetChanges
	case "POST":
		return pc.PostChanges
	case "PUT":
		return pc.PutChanges
	case "PATCH":
		return pc.PatchChanges
	case "DELETE":
		return pc.DeleteChanges
	case "HEAD":
		return pc.HeadChanges
	case "OPTIONS":
		return pc.OptionsChanges
	}
	return nil
}

func changesOf(p *model.PropertyChanges) []*model.Change {
	if p == nil {
		return nil
	}
	return p.Changes
}

func isRemoval(c *model.Change) bool {
	return c.ChangeType == model.ObjectRemoved || c.ChangeType == model.PropertyRemoved
}

func isAddition(c *model.Change) bool {
	return c.ChangeType == model.ObjectAdded || c.ChangeType == model.PropertyAdded
}

// describe says what a what-changed change did to subject, in one line.
func describe(subject string, c *model.Change) string {
	switch c.ChangeType {
	case model.ObjectAdded, model.PropertyAdded:
		return fmt.Sprintf("%s: %s added %s", subject, c.Property, clip(c.New))
	case model.ObjectRemoved, model.PropertyRemoved:
		return fmt.Sprintf("%s: %s removed %s", subject, c.Property, clip(c.Original))
	}
	if len(c.Original) > 80 || len(c.New) > 80 {
		// Long prose: show where it starts to differ, not two equal heads.
		a, b := excerpt(c.Original, c.New)
		return fmt.Sprintf("%s: %s changed from %s to %s", subject, c.Property, a, b)
	}
	return fmt.Sprintf("%s: %s changed from %s to %s", subject, c.Property, clip(c.Original), clip(c.New))
}

// excerpt cuts two long texts to where they first differ.
func excerpt(a, b string) (string, string) {
	a, b = strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " ")
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	// A little context before the first difference.
	i = max(i-24, 0)
	cut := func(s string) string {
		s = s[i:]
		if i > 0 {
			s = "..." + s
		}
		return clip(s)
	}
	return cut(a), cut(b)
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// coverage lists NHI list operations of the new doc the old doc did not
// have and no stream reads.
func (d *differ) coverage() []string {
	out := []string{}
	oldOps := map[string]bool{}
	for _, op := range d.old.Operations {
		oldOps[op.Method+" "+apisurface.TemplateShape(op.Path)] = true
	}
	for _, op := range d.new.Operations {
		if op.Method != "GET" || op.List == nil || !op.List.Kind.IsNHI() || op.Deprecated {
			continue
		}
		if oldOps[op.Method+" "+apisurface.TemplateShape(op.Path)] || d.read[op.Method+" "+op.Path] {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s (%s)", op.Method, op.Path, op.List.Kind))
	}
	sort.Strings(out)
	return out
}

package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store"
)

// pageSize is the rows of one page of the inventory and the audit log.
const pageSize = 50

type integrationRow struct {
	lifecycle.Summary
	// Drift are the doc-drift findings (warn or fail) of the latest
	// recorded health.
	Drift []contract.Finding
}

func (h *handler) integrations(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionReleaseRead) {
		return
	}
	sums, err := h.env.Life.List(r.Context())
	if err != nil {
		h.internal(w, r, "list the integrations", err)
		return
	}
	rows := make([]integrationRow, 0, len(sums))
	for _, s := range sums {
		row := integrationRow{Summary: s}
		rec, ok, err := contract.Latest(r.Context(), h.env.DB, s.Name)
		if err != nil {
			h.internal(w, r, "read the health of "+s.Name, err)
			return
		}
		if ok {
			for _, f := range rec.Checks {
				if strings.HasPrefix(f.ID, production.DriftPrefix) && (f.Status == contract.Fail || f.Status == contract.Warn) {
					row.Drift = append(row.Drift, f)
				}
			}
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "integrations", page{Title: "Integrations", Nav: "integrations", Data: rows})
}

type proposalsData struct {
	Queue  []governance.Review
	Closed []governance.Proposal
}

func (h *handler) proposals(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionProposalRead) {
		return
	}
	q, err := h.env.Gov.Queue(r.Context())
	if err != nil {
		h.internal(w, r, "read the review queue", err)
		return
	}
	all, err := h.env.Gov.Proposals(r.Context(), "")
	if err != nil {
		h.internal(w, r, "list the proposals", err)
		return
	}
	var closed []governance.Proposal
	for i := len(all) - 1; i >= 0 && len(closed) < 20; i-- { // newest first
		if all[i].Status != governance.StatusOpen {
			closed = append(closed, all[i])
		}
	}
	h.render(w, r, http.StatusOK, "proposals", page{Title: "Review queue", Nav: "proposals", Data: proposalsData{Queue: q, Closed: closed}})
}

// proposalData is the review page of one proposal.
type proposalData struct {
	Review   *governance.Review
	Diff     []diffLine
	DiffNote string
	Decision decisionState
}

// decisionState says which decision forms the viewer gets, and why not.
type decisionState struct {
	CanApprove bool
	CanReject  bool
	// Why the forms are missing, for the viewer ("" when shown).
	Why string
	// NoKey is set when the person has no signing key the server holds.
	NoKey string
	// Done is the outcome of the decision just made.
	Done string
}

func (h *handler) proposal(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionProposalRead) {
		return
	}
	h.showProposal(w, r, http.StatusOK, "", doneMessage(r.URL.Query().Get("done")))
}

// doneMessage is the notice after a decision's redirect; only known
// values are shown, so the query string cannot put text on the page.
func doneMessage(v string) string {
	switch v {
	case "approved":
		return "Your approval is signed and recorded."
	case "released":
		return "Your approval is signed and recorded, and it completed the proposal: the spec is released."
	case "rejected":
		return "Your rejection is signed and recorded; the proposal is closed."
	}
	return ""
}

// showProposal renders the review of the proposal in the URL with status
// and, on a refused decision, errMsg.
func (h *handler) showProposal(w http.ResponseWriter, r *http.Request, status int, errMsg, notice string) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		h.fail(w, r, http.StatusNotFound, "Proposal ids are positive numbers; pick one from the review queue.")
		return
	}
	rev, err := h.env.Gov.Review(r.Context(), id)
	if errors.Is(err, governance.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "There is no proposal "+strconv.FormatInt(id, 10)+"; pick one from the review queue.")
		return
	}
	if err != nil {
		h.internal(w, r, "read the proposal", err)
		return
	}
	d := proposalData{Review: rev}
	diff := rev.Diff
	if rev.Base == nil {
		// A new integration: the whole spec, as added lines.
		d.DiffNote = "A new integration: every line of its spec is new."
		if diff, err = governance.Diff(nil, []byte(rev.Spec), "(no release yet)", "proposal "+strconv.FormatInt(id, 10)+" ("+shortDigest(rev.Proposal.SpecDigest)+")"); err != nil {
			h.internal(w, r, "diff the spec", err)
			return
		}
	} else if diff == "" {
		d.DiffNote = "The spec is identical to the current release's."
	}
	d.Diff = parseDiff(diff)
	if d.Decision, err = h.decisionState(r, rev); err != nil {
		h.internal(w, r, "read your signing key", err)
		return
	}
	d.Decision.Done = notice
	h.render(w, r, status, "proposal", page{Title: "Proposal " + strconv.FormatInt(id, 10) + " · " + rev.Proposal.Integration, Nav: "proposals", Error: errMsg, Data: d})
}

// decisionState decides which forms to show. The server re-checks all of
// it when a form is posted (and governance again in its transaction).
func (h *handler) decisionState(r *http.Request, rev *governance.Review) (decisionState, error) {
	s := sessionFrom(r.Context())
	p := rev.Proposal
	var st decisionState
	switch {
	case p.Status != governance.StatusOpen:
		st.Why = "This proposal is " + p.Status + "; it takes no more decisions."
		return st, nil
	case !s.can(governance.ActionProposalApprove):
		st.Why = "Only approvers decide on proposals; you are signed in as " + string(s.Principal.Role) + "."
		return st, nil
	case p.Author == s.Principal.Name:
		st.Why = "You wrote this proposal, so another approver decides on it."
		return st, nil
	}
	for _, d := range rev.Decisions {
		if d.Approver == s.Principal.Name {
			st.Why = "You already decided on this proposal (" + d.Decision + "); each person decides once."
			return st, nil
		}
	}
	held, err := h.keys.Held(r.Context(), s.Principal.Name)
	if err != nil {
		return st, err
	}
	if !held {
		st.NoKey = keyHint(s.Principal.Name)
		return st, nil
	}
	st.CanApprove, st.CanReject = true, s.can(governance.ActionProposalReject)
	return st, nil
}

func keyHint(name string) string {
	return "Every decision is signed, and the server holds no signing key of yours (a key file you keep signs only with the CLI: spindle approve ID --as " + name +
		"). To decide here, create one the server keeps: spindle keys create " + name + " --custody server (add --replace if you have a key file)."
}

// invFilter is the inventory explorer's query.
type invFilter struct {
	Kind, Source, Presence, Status, Owner, Finding string
	Page                                           int
}

func (f invFilter) query(page int) string {
	v := url.Values{}
	for k, x := range map[string]string{"kind": f.Kind, "source": f.Source, "presence": f.Presence, "status": f.Status, "owner": f.Owner, "finding": f.Finding} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/inventory"
	}
	return "/inventory?" + v.Encode()
}

type inventoryData struct {
	Filter    invFilter
	Entities  []findings.Entity
	Total     int
	From, To  int
	Prev      string
	Next      string
	Kinds     []nhi.Kind
	Sources   []string
	Presences []store.Presence
	Statuses  []nhi.Status
	Rules     []findings.Rule
	// Names maps entity ids to names, to show owners by name.
	Names map[string]string
}

func (h *handler) inventory(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionInventoryRead) {
		return
	}
	q := r.URL.Query()
	f := invFilter{Kind: q.Get("kind"), Source: q.Get("source"), Presence: q.Get("presence"), Status: q.Get("status"), Owner: strings.TrimSpace(q.Get("owner")),
		Finding: q.Get("finding"), Page: 1}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		f.Page = n
	}
	d := inventoryData{Filter: f, Kinds: nhi.Kinds(), Presences: []store.Presence{store.Present, store.Unverified, store.Gone}, Statuses: nhi.Statuses(), Rules: findings.IDs()}
	if f.Kind != "" && !nhi.Kind(f.Kind).Valid() {
		h.render(w, r, http.StatusBadRequest, "inventory", page{Title: "Inventory", Nav: "inventory", Error: "Unknown kind; pick one from the list.", Data: d})
		return
	}
	if f.Finding != "" && !findings.Known(f.Finding) {
		h.render(w, r, http.StatusBadRequest, "inventory", page{Title: "Inventory", Nav: "inventory", Error: "Unknown finding; pick one from the list.", Data: d})
		return
	}
	// The store filters by source, kind and presence; owner and status are
	// filtered here. The whole inventory is read once for the source list
	// and the owners' names: fine at a dashboard's scale, and the store's
	// Query grows owner and offset when it is not.
	all, err := h.env.Inventory.Entities(r.Context(), store.Query{})
	if err != nil {
		h.internal(w, r, "read the inventory", err)
		return
	}
	d.Names = map[string]string{}
	var match []findings.Entity
	now := h.now()
	for _, e := range all {
		if e.Name != nil {
			d.Names[e.ID] = *e.Name
		}
		if !slices.Contains(d.Sources, e.Source) {
			d.Sources = append(d.Sources, e.Source)
		}
		if !f.matches(e) {
			continue
		}
		// Evaluated at the dashboard's now: findings age without a sync.
		fs := findings.Evaluate(e, now, findings.Options{})
		if f.Finding == "" || findings.Has(fs, f.Finding) {
			match = append(match, findings.Entity{Entity: e, Findings: fs})
		}
	}
	if f.Owner != "" {
		match = slices.DeleteFunc(match, func(e findings.Entity) bool { return !f.ownerMatches(e.Entity, d.Names) })
	}
	slices.Sort(d.Sources)
	d.Total = len(match)
	start := min((f.Page-1)*pageSize, len(match))
	end := min(start+pageSize, len(match))
	d.Entities = match[start:end]
	d.From, d.To = start+1, end
	if f.Page > 1 {
		d.Prev = f.query(f.Page - 1)
	}
	if end < len(match) {
		d.Next = f.query(f.Page + 1)
	}
	h.render(w, r, http.StatusOK, "inventory", page{Title: "Inventory", Nav: "inventory", Data: d})
}

// matches applies the filters other than owner, whose names are known
// only once the whole inventory was read.
func (f invFilter) matches(e store.Entity) bool {
	switch {
	case f.Kind != "" && string(e.Kind) != f.Kind,
		f.Source != "" && e.Source != f.Source,
		f.Presence != "" && string(e.Presence) != f.Presence,
		f.Status != "" && (e.Status == nil || string(*e.Status) != f.Status):
		return false
	}
	return true
}

// ownerMatches compares the owner filter with the owner's external id, id
// or name, case-insensitively.
func (f invFilter) ownerMatches(e store.Entity, names map[string]string) bool {
	if e.Owner == nil {
		return false
	}
	for _, v := range []string{e.Owner.ExternalID, e.Owner.ID, names[e.Owner.ID]} {
		if v != "" && strings.EqualFold(v, f.Owner) {
			return true
		}
	}
	return false
}

type entityData struct {
	Entity     store.Entity
	Names      map[string]string
	Attributes []attribute
	Findings   []entityFinding
}

// entityFinding is a finding with the name of its OWASP risk.
type entityFinding struct {
	findings.Finding
	RiskName string
}

type attribute struct {
	Key, Value string
}

func (h *handler) entity(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionInventoryRead) {
		return
	}
	id := chi.URLParam(r, "id")
	all, err := h.env.Inventory.Entities(r.Context(), store.Query{})
	if err != nil {
		h.internal(w, r, "read the inventory", err)
		return
	}
	d := entityData{Names: map[string]string{}}
	found := false
	for _, e := range all {
		if e.Name != nil {
			d.Names[e.ID] = *e.Name
		}
		if e.ID == id {
			d.Entity, found = e, true
		}
	}
	if !found {
		h.fail(w, r, http.StatusNotFound, "No entity has this id; search the inventory for it.")
		return
	}
	keys := make([]string, 0, len(d.Entity.Attributes))
	for k := range d.Entity.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.Attributes = append(d.Attributes, attribute{Key: k, Value: attributeValue(k, d.Entity.Attributes[k])})
	}
	for _, f := range findings.Evaluate(d.Entity, h.now(), findings.Options{}) {
		d.Findings = append(d.Findings, entityFinding{Finding: f, RiskName: findings.RiskName(f.Risk)})
	}
	title := d.Entity.ExternalID
	if d.Entity.Name != nil {
		title = *d.Entity.Name
	}
	h.render(w, r, http.StatusOK, "entity", page{Title: title, Nav: "inventory", Data: d})
}

// secretish names attribute keys whose values the page never shows. The
// runtime already redacts vendor extras before storing them; this is the
// second line, should a mapping or an older run have kept one.
var secretish = []string{"secret", "password", "passwd", "private_key", "privatekey", "credential", "token", "apikey", "api_key"}

// attributeValue is an attribute as the page shows it: secrets by name or
// by look replaced, URLs cut to scheme and host (a webhook's path or query
// often is its secret), nested values likewise.
func attributeValue(key string, v any) string {
	v = redactValue(key, v)
	if s, ok := v.(string); ok {
		return s
	}
	return compactJSON(v)
}

const redacted = "[redacted]"

func redactValue(key string, v any) any {
	k := strings.ToLower(key)
	for _, s := range secretish {
		if strings.Contains(k, s) && !strings.HasSuffix(k, "_id") && !strings.HasSuffix(k, "_at") && !strings.HasSuffix(k, "_count") {
			return redacted
		}
	}
	switch t := v.(type) {
	case string:
		if _, bad := integration.LooksLikeSecret(t); bad {
			return redacted
		}
		if u, err := url.Parse(t); err == nil && u.Scheme != "" && u.Host != "" && (u.User != nil || u.RawQuery != "" || strings.Trim(u.Path, "/") != "") {
			return u.Scheme + "://" + u.Host + "/… (path redacted)"
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k2, x := range t {
			out[k2] = redactValue(k2, x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = redactValue(key, x)
		}
		return out
	}
	return v
}

type auditData struct {
	Action, Actor string
	Entries       []audit.Entry
	Page          int
	Prev, Next    string
	Verify        *audit.Report
}

func (d auditData) link(page int, verify bool) string {
	v := url.Values{}
	if d.Action != "" {
		v.Set("action", d.Action)
	}
	if d.Actor != "" {
		v.Set("actor", d.Actor)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if verify {
		v.Set("verify", "1")
	}
	if len(v) == 0 {
		return "/audit"
	}
	return "/audit?" + v.Encode()
}

// audit lists the log newest first, pageSize entries a page, page n being
// the n-th newest window of the filtered log.
func (h *handler) audit(w http.ResponseWriter, r *http.Request) {
	if !h.require(w, r, governance.ActionAuditRead) {
		return
	}
	q := r.URL.Query()
	d := auditData{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")), Page: 1}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 && n <= 10000 {
		d.Page = n
	}
	es, err := h.env.Audit.List(r.Context(), audit.Filter{Action: d.Action, Actor: d.Actor, Limit: d.Page*pageSize + 1, Tail: true})
	if err != nil {
		h.internal(w, r, "read the audit log", err)
		return
	}
	// es is the newest Page*pageSize+1 entries, oldest first: one more
	// than this page needs tells whether an older page exists.
	if len(es) > d.Page*pageSize {
		d.Next = d.link(d.Page+1, false)
		es = es[1:]
	}
	window := es[:max(len(es)-(d.Page-1)*pageSize, 0)]
	for i := len(window) - 1; i >= 0 && len(d.Entries) < pageSize; i-- {
		d.Entries = append(d.Entries, window[i])
	}
	if d.Page > 1 {
		d.Prev = d.link(d.Page-1, false)
	}
	if q.Get("verify") != "" {
		rep, err := h.env.Audit.Verify(r.Context())
		if err != nil {
			h.internal(w, r, "verify the audit chain", err)
			return
		}
		d.Verify = &rep
	}
	h.render(w, r, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Data: d})
}

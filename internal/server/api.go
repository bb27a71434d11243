package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store"
)

// Page sizes.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	actions := []governance.Action{}
	for _, a := range governance.Actions() {
		if governance.Can(p.Role, a) {
			actions = append(actions, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": p.Name, "role": p.Role, "token_id": p.TokenID, "actions": actions})
}

// integrationView is lifecycle's summary with the drift findings the last
// validation recorded.
type integrationView struct {
	lifecycle.Summary
	Drift []contract.Finding `json:"drift"`
}

func driftOf(r contract.Result) []contract.Finding {
	out := []contract.Finding{}
	for _, f := range r.Checks {
		if strings.HasPrefix(f.ID, production.DriftPrefix) {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) integrationViews(ctx context.Context) ([]integrationView, error) {
	sums, err := s.cfg.Env.Life.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]integrationView, 0, len(sums))
	for _, sm := range sums {
		res, ok, err := contract.Latest(ctx, s.cfg.Env.DB, sm.Name)
		if err != nil {
			return nil, err
		}
		v := integrationView{Summary: sm, Drift: []contract.Finding{}}
		if ok {
			v.Drift = driftOf(res)
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) integrations(w http.ResponseWriter, r *http.Request) {
	vs, err := s.integrationViews(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": vs})
}

// known finds one integration by name, answering 404 itself.
func (s *Server) known(w http.ResponseWriter, r *http.Request) (*integrationView, bool) {
	name := chi.URLParam(r, "name")
	vs, err := s.integrationViews(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return nil, false
	}
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i], true
		}
	}
	s.fail(w, r, http.StatusNotFound, fmt.Sprintf("no integration %q", name), "list them with GET /api/v1/integrations")
	return nil, false
}

func (s *Server) integration(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.known(w, r); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

// latest is the integration's newest recorded contract result.
func (s *Server) latest(w http.ResponseWriter, r *http.Request) (contract.Result, bool, bool) {
	v, ok := s.known(w, r)
	if !ok {
		return contract.Result{}, false, false
	}
	res, rec, err := contract.Latest(r.Context(), s.cfg.Env.DB, v.Name)
	if err != nil {
		s.failErr(w, r, err)
		return contract.Result{}, false, false
	}
	return res, rec, true
}

func (s *Server) integrationHealth(w http.ResponseWriter, r *http.Request) {
	res, rec, ok := s.latest(w, r)
	if !ok {
		return
	}
	name := chi.URLParam(r, "name")
	if !rec {
		writeJSON(w, http.StatusOK, map[string]any{"integration": name, "recorded": false, "checks": []contract.Finding{}})
		return
	}
	if res.Checks == nil {
		res.Checks = []contract.Finding{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"integration": name, "recorded": true, "run_id": res.RunID, "checked_at": res.CheckedAt,
		"health": res.Health, "failing": nonNil(res.Failing()), "warning": nonNil(res.Warning()), "checks": res.Checks})
}

// integrationDrift returns the drift findings the last validation or sync
// recorded: a drift check on demand reads the vendor's doc, too slow (and
// too outward-reaching) for a GET.
func (s *Server) integrationDrift(w http.ResponseWriter, r *http.Request) {
	res, rec, ok := s.latest(w, r)
	if !ok {
		return
	}
	out := map[string]any{"integration": chi.URLParam(r, "name"), "recorded": rec, "findings": driftOf(res)}
	if rec {
		out["checked_at"] = res.CheckedAt
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// proposalItem is a proposal in a list; the decision counts are set for
// open ones.
type proposalItem struct {
	governance.Proposal
	Approvals *int   `json:"approvals,omitempty"`
	Required  *int   `json:"required_approvals,omitempty"`
	Needed    *int   `json:"needed,omitempty"`
	Summary   string `json:"summary,omitempty"`
}

var proposalStatuses = []string{"all", governance.StatusOpen, governance.StatusReleased, governance.StatusRejected, governance.StatusSuperseded}

func (s *Server) proposals(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = governance.StatusOpen
	}
	if !slices.Contains(proposalStatuses, status) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown status %q", status), "one of "+strings.Join(proposalStatuses, ", "))
		return
	}
	items := []proposalItem{}
	if status == governance.StatusOpen {
		q, err := s.cfg.Env.Gov.Queue(r.Context())
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		for _, rv := range q {
			items = append(items, proposalItem{Proposal: rv.Proposal, Approvals: &rv.Approvals, Required: &rv.Risk.Required, Needed: &rv.Needed, Summary: rv.Summary()})
		}
	} else {
		if status == "all" {
			status = ""
		}
		ps, err := s.cfg.Env.Gov.Proposals(r.Context(), status)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		for _, p := range ps {
			items = append(items, proposalItem{Proposal: p})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// proposeBody is a build bundle: integration.yaml's text and report.json
// (a JSON object, or a string holding one).
type proposeBody struct {
	IntegrationYAML string          `json:"integration_yaml"`
	ReportJSON      json.RawMessage `json:"report_json"`
}

// propose registers a bundle as the caller's proposal. The vendor doc is
// not pinned here (the CLI's propose does): fetching a location the
// bundle names would let a caller make the server read its own files or
// its network.
func (s *Server) propose(w http.ResponseWriter, r *http.Request) {
	var b proposeBody
	if err := decode(r, maxBody, &b, false); err != nil {
		s.failBad(w, r, err)
		return
	}
	if strings.TrimSpace(b.IntegrationYAML) == "" {
		s.fail(w, r, http.StatusBadRequest, "integration_yaml is required", "send the bundle's integration.yaml as a string")
		return
	}
	rep := []byte(b.ReportJSON)
	if len(rep) > 0 && rep[0] == '"' {
		var str string
		if err := json.Unmarshal(rep, &str); err != nil {
			s.fail(w, r, http.StatusBadRequest, "report_json: not a JSON string", "send report.json as an object, or as a string holding it")
			return
		}
		rep = []byte(str)
	}
	if string(rep) == "null" {
		rep = nil
	}
	p, _ := PrincipalFrom(r.Context())
	prop, err := s.cfg.Env.Gov.Propose(r.Context(), governance.ProposeInput{Spec: []byte(b.IntegrationYAML), Report: rep, Author: p.Name})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/proposals/%d", prop.ID))
	writeJSON(w, http.StatusCreated, prop)
}

func (s *Server) proposalID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a proposal id", chi.URLParam(r, "id")), "list them with GET /api/v1/proposals")
		return 0, false
	}
	return id, true
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	id, ok := s.proposalID(w, r)
	if !ok {
		return
	}
	rv, err := s.cfg.Env.Gov.Review(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rv)
}

type decideBody struct {
	// Digest, when set, is the spec sha256 the person reviewed: another
	// one is refused.
	Digest string `json:"digest"`
	Reason string `json:"reason"`
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	s.decide(w, r, governance.DecisionApprove)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request) {
	s.decide(w, r, governance.DecisionReject)
}

// decide signs the caller's decision with the signing key the server
// holds for them (internal/custody); governance checks everything else:
// their roles, separation of duties, the digest, the proposal's state.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, decision string) {
	id, ok := s.proposalID(w, r)
	if !ok {
		return
	}
	var b decideBody
	if err := decode(r, maxJSON, &b, decision == governance.DecisionApprove); err != nil {
		s.failBad(w, r, err)
		return
	}
	if decision == governance.DecisionReject && strings.TrimSpace(b.Reason) == "" {
		s.fail(w, r, http.StatusBadRequest, "a rejection needs a reason", `send {"reason": "what the author should change"}`)
		return
	}
	p, _ := PrincipalFrom(r.Context())
	key, err := s.custody.SigningKey(r.Context(), p.Name)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer clear(key)
	in := governance.DecideInput{ProposalID: id, Approver: p.Name, Key: key, Digest: strings.TrimSpace(b.Digest), Reason: b.Reason}
	var d *governance.Decided
	if decision == governance.DecisionReject {
		d, err = s.cfg.Env.Gov.Reject(r.Context(), in)
	} else {
		d, err = s.cfg.Env.Gov.Approve(r.Context(), in)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) releases(w http.ResponseWriter, r *http.Request) {
	rs, err := s.cfg.Env.Gov.Releases(r.Context(), r.URL.Query().Get("integration"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if rs == nil {
		rs = []governance.Release{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": rs})
}

func (s *Server) verifyRelease(w http.ResponseWriter, r *http.Request) {
	v, err := s.cfg.Env.Gov.Verify(r.Context(), chi.URLParam(r, "integration"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// limitParam reads ?limit= (default 100, at most 1000).
func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, &badRequest{fmt.Sprintf("limit %q: want 1 to %d", v, maxLimit), ""}
	}
	return n, nil
}

// cursor is an opaque page position: base64url of a JSON array.
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 2048 || json.Unmarshal(b, v) != nil {
		return &badRequest{"invalid cursor", "pass next_cursor from the previous page unchanged, or none for the first page"}
	}
	return nil
}

// inventoryPage is a page of the inventory.
type inventoryPage struct {
	Items      []findings.Entity `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// inventory lists entities by kind, source, owner, status (presence),
// record_status and finding, ordered by (source, kind, external_id) with a
// cursor on that key, each with its findings (evaluated at the server's
// now, so they age without a sync). The store filters by kind, source and
// presence; the rest is filtered here (see docs/server.md on what that
// costs).
func (s *Server) inventory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitParam(r)
	if err != nil {
		s.failBad(w, r, err)
		return
	}
	sq := store.Query{Source: q.Get("source"), Kind: nhi.Kind(q.Get("kind")), Presence: store.Presence(q.Get("status"))}
	if sq.Kind != "" && !sq.Kind.Valid() {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown kind %q", sq.Kind), "see the kinds in /openapi.json")
		return
	}
	if p := sq.Presence; p != "" && p != store.Present && p != store.Unverified && p != store.Gone {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown status %q", p), "status is the presence: present, unverified or gone (record_status filters the vendor's status)")
		return
	}
	recStatus := nhi.Status(q.Get("record_status"))
	if recStatus != "" && !slices.Contains(nhi.Statuses(), recStatus) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown record_status %q", recStatus), "one of active, disabled, revoked, expired")
		return
	}
	finding := q.Get("finding")
	if finding != "" && !findings.Known(finding) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown finding %q", finding), "one of "+findingIDs())
		return
	}
	var after []string
	if c := q.Get("cursor"); c != "" {
		if err := decodeCursor(c, &after); err != nil || len(after) != 3 {
			s.failBad(w, r, &badRequest{"invalid cursor", "pass next_cursor from the previous page unchanged"})
			return
		}
	}
	page := inventoryPage{Items: []findings.Entity{}}
	now := s.cfg.Now()
	ents, err := s.cfg.Env.Inventory.Entities(r.Context(), sq)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	owner := q.Get("owner")
	for _, e := range ents {
		if after != nil && !keyAfter(e, after) {
			continue
		}
		if owner != "" && (e.Owner == nil || (e.Owner.ID != owner && e.Owner.ExternalID != owner)) {
			continue
		}
		if recStatus != "" && (e.Status == nil || *e.Status != recStatus) {
			continue
		}
		fs := findings.Evaluate(e, now, findings.Options{})
		if finding != "" && !findings.Has(fs, finding) {
			continue
		}
		if len(page.Items) == limit {
			last := page.Items[limit-1]
			page.NextCursor = encodeCursor([]string{last.Source, string(last.Kind), last.ExternalID})
			break
		}
		page.Items = append(page.Items, findings.Entity{Entity: e, Findings: fs})
	}
	writeJSON(w, http.StatusOK, page)
}

// findingIDs lists the rule ids, for the hint of a bad finding filter.
func findingIDs() string {
	var ids []string
	for _, r := range findings.IDs() {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ", ")
}

// keyAfter reports whether e sorts after the cursor's key, in the store's
// order (bytewise on both stores).
func keyAfter(e store.Entity, k []string) bool {
	return slices.Compare([]string{e.Source, string(e.Kind), e.ExternalID}, k) > 0
}

// auditPage is a page of the audit log, in chain order.
type auditPage struct {
	Items      []audit.Entry `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitParam(r)
	if err != nil {
		s.failBad(w, r, err)
		return
	}
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Object: q.Get("object"), Boundary: q.Get("boundary"), Limit: limit + 1}
	if b := f.Boundary; b != "" && b != audit.BoundarySandbox && b != audit.BoundaryProduction && b != audit.BoundaryNone {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown boundary %q", b), "one of sandbox, production, none")
		return
	}
	if c := q.Get("cursor"); c != "" {
		var after []int64
		if err := decodeCursor(c, &after); err != nil || len(after) != 1 || after[0] < 0 {
			s.failBad(w, r, &badRequest{"invalid cursor", "pass next_cursor from the previous page unchanged"})
			return
		}
		f.After = after[0]
	}
	ents, err := s.cfg.Env.Audit.List(r.Context(), f)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	page := auditPage{Items: ents}
	if page.Items == nil {
		page.Items = []audit.Entry{}
	}
	if len(ents) > limit {
		page.Items = ents[:limit]
		page.NextCursor = encodeCursor([]int64{ents[limit-1].Seq})
	}
	writeJSON(w, http.StatusOK, page)
}

// healthz is for load balancers and orchestrators: no authentication, no
// detail beyond up or down.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := map[string]any{"status": "ok", "database": "ok", "workers": "disabled"}
	status := http.StatusOK
	if err := s.cfg.Env.DB.PingContext(ctx); err != nil {
		s.log.Error("healthz: database ping", "error", err.Error())
		out["status"], out["database"], status = "unavailable", "unreachable", http.StatusServiceUnavailable
	}
	if q := s.cfg.Queue; q != nil {
		select {
		case <-q.Stopped():
			out["workers"], out["status"], status = "stopped", "unavailable", http.StatusServiceUnavailable
		default:
			out["workers"] = "running"
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, out)
}

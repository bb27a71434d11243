package rebuild

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

const exampleDoc = "../../examples/docs/acme-keys.yaml"

// env is a database with acme-cloud built from a copy of the example doc
// (at docPath), proposed with its doc pinned, and released by two people.
type env struct {
	t       *testing.T
	db      *sql.DB
	log     *audit.Log
	gov     *governance.Service
	docPath string
	keys    map[string]ed25519.PrivateKey
}

func released(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "spindle.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := audit.New(st.DB(), audit.Options{})
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: st.DB(), log: log, gov: gov, docPath: filepath.Join(dir, "vendor", "acme-keys.yaml"), keys: map[string]ed25519.PrivateKey{}}
	if err := os.MkdirAll(filepath.Dir(e.docPath), 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeDoc(read(t, exampleDoc))
	if _, err := gov.Grant(ctx, "", "root", governance.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"alice", "bob"} {
		if _, err := gov.Grant(ctx, "root", who, governance.RoleApprover); err != nil {
			t.Fatal(err)
		}
		_, path, err := gov.CreateKey(ctx, who, filepath.Join(dir, "keys"), false)
		if err != nil {
			t.Fatal(err)
		}
		if e.keys[who], err = governance.LoadPrivateKey(path); err != nil {
			t.Fatal(err)
		}
	}

	// Build, pin, propose and release, as `spindle build` and `spindle
	// propose` do.
	out, err := agent.Build(ctx, agent.Config{Doc: e.docPath, Brain: &agent.Heuristic{Options: draft.Options{Owner: "identity-team@example.com"}}})
	if err != nil || !out.Passed {
		t.Fatalf("build the release: %v %+v", err, out)
	}
	bundle := filepath.Join(dir, "bundle")
	if err := out.WriteBundle(bundle); err != nil {
		t.Fatal(err)
	}
	in, err := governance.ReadBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gov.Propose(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	src := &drift.Source{Location: e.docPath, SHA256: out.Doc.SHA256, Content: read(t, e.docPath)}
	if _, _, err := drift.PinSource(ctx, e.db, log, audit.Actor{Kind: audit.ActorAgent, Name: p.Author}, audit.BoundaryNone, src, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"alice", "bob"} {
		if _, err := gov.Approve(ctx, governance.DecideInput{ProposalID: p.ID, Approver: who, Key: e.keys[who]}); err != nil {
			t.Fatal(err)
		}
	}
	if rel, err := gov.Current(ctx, "acme-cloud"); err != nil || rel.ProposalID != p.ID {
		t.Fatalf("release: %+v %v", rel, err)
	}
	return e
}

func (e *env) writeDoc(b []byte) {
	e.t.Helper()
	if err := os.WriteFile(e.docPath, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deps() Deps { return Deps{DB: e.db, Gov: e.gov, Audit: e.log} }

// check runs the drift check of the current release of acme-cloud.
func (e *env) check() *drift.CheckResult {
	e.t.Helper()
	rel, err := e.gov.ReleasedSpec(e.t.Context(), "acme-cloud")
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := drift.Check(e.t.Context(), e.db, rel, drift.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit replaces old with new in the example doc, failing if it is gone.
func edit(t *testing.T, doc []byte, old, new string) []byte {
	t.Helper()
	if !strings.Contains(string(doc), old) {
		t.Fatalf("the example doc no longer holds %q", old)
	}
	return []byte(strings.Replace(string(doc), old, new, 1))
}

// renamedName is the example doc with ServiceAccount.name, which the
// spec's service_accounts stream maps strictly, renamed to display_name.
func renamedName(t *testing.T) []byte {
	doc := read(t, exampleDoc)
	doc = edit(t, doc, "      required: [id, name, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        name: { type: string, example: ci-deployer }",
		"      required: [id, display_name, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        display_name: { type: string, example: ci-deployer }")
	return doc
}

func TestRebuildFilesAgentProposal(t *testing.T) {
	e := released(t)
	ctx := t.Context()
	before := e.check()
	if before.Changed || before.NeedsRebuild() {
		t.Fatalf("fresh release drifted: %+v", before)
	}
	if r, err := Run(ctx, e.deps(), Request{Integration: "acme-cloud", Check: before, OutDir: t.TempDir()}); err != nil || r.Status != StatusNotNeeded {
		t.Errorf("rebuild without drift: %+v, %v", r, err)
	}

	e.writeDoc(renamedName(t))
	chk := e.check()
	if !chk.HasBreaking() || len(drift.ExternalRefs(chk.Current, 1)) != 0 {
		t.Fatalf("drift check: %+v", chk.Report)
	}
	out := filepath.Join(t.TempDir(), "rebuild")
	r, err := Run(ctx, e.deps(), Request{Integration: "acme-cloud", Check: chk, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusProposed || r.ProposalID != 2 || r.Author != "agent:heuristic" || r.Release != 1 || r.DocSHA256 != chk.CurrentSHA256 || !r.Filed() {
		t.Fatalf("result: %+v", r)
	}

	p, err := e.gov.Proposal(ctx, r.ProposalID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != governance.StatusOpen || p.AuthorKind != "agent" || p.BaseRelease == nil || *p.BaseRelease != 1 {
		t.Errorf("proposal: %+v", p)
	}
	// The rebuilt spec reads the renamed field, keeps the integration's
	// name and owner, and records the new doc as its source.
	doc, err := integration.Parse("integration.yaml", p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	md := doc.Spec.Metadata
	if md.Name != "acme-cloud" || md.Owner != "identity-team@example.com" || md.SourceDoc == nil ||
		md.SourceDoc.Location != e.docPath || md.SourceDoc.SHA256 != chk.CurrentSHA256 {
		t.Errorf("metadata: %+v %+v", md, md.SourceDoc)
	}
	reads := ""
	for _, st := range doc.Spec.Streams {
		if st.Name == "service_accounts" {
			reads = st.Map["name"]
		}
	}
	if reads != "r.display_name" {
		t.Errorf("service_accounts maps name from %q, want r.display_name:\n%s", reads, p.Spec)
	}
	// The reviewer sees why: the drift in the notes and the review's
	// first question.
	var rep struct {
		Notes string `json:"notes"`
	}
	if err := json.Unmarshal(p.Report, &rep); err != nil || !strings.Contains(rep.Notes, "Rebuilt on doc drift") || !strings.Contains(rep.Notes, "Breaking: stream service_accounts: GET /service-accounts response.body.items.[].name") {
		t.Errorf("report notes: %q %v", rep.Notes, err)
	}
	rv, err := e.gov.Review(ctx, r.ProposalID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.Questions) == 0 || !strings.Contains(rv.Questions[0], "rebuild on doc drift of release 1 (1 breaking") {
		t.Errorf("review questions: %q", rv.Questions)
	}
	if md := string(read(t, filepath.Join(out, agent.FileReportMD))); !strings.Contains(md, "Rebuilt on doc drift") {
		t.Errorf("report.md lacks the drift:\n%s", md)
	}
	var bundled drift.CheckResult
	if err := json.Unmarshal(read(t, filepath.Join(out, FileDrift)), &bundled); err != nil || len(bundled.Report.Breaking) != 1 {
		t.Errorf("%s: %+v %v", FileDrift, bundled, err)
	}
	if string(read(t, filepath.Join(out, drift.BundleDocFile))) != string(renamedName(t)) {
		t.Errorf("%s is not the doc the rebuild read", drift.BundleDocFile)
	}

	// Nothing was released: release 1 is still what runs.
	rels, err := e.gov.Releases(ctx, "acme-cloud")
	if err != nil || len(rels) != 1 {
		t.Errorf("releases: %+v %v", rels, err)
	}
	// The new doc is pinned for the proposal's future checks.
	if _, err := drift.LoadPinned(ctx, e.db, chk.CurrentSHA256); err != nil {
		t.Errorf("new doc not pinned: %v", err)
	}
	// Audited, in the sandbox, by the agent.
	ents, err := e.log.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var verdict, tools, pin int
	for _, en := range ents {
		switch {
		case en.Action == "rebuild.build":
			verdict++
			if en.Boundary != audit.BoundarySandbox || en.Actor.Name != "agent:heuristic" || en.Details["passed"] != true {
				t.Errorf("verdict entry: %+v", en)
			}
		case strings.HasPrefix(en.Action, "agent.tool.") && en.Object == "integration:acme-cloud":
			tools++
			if en.Boundary != audit.BoundarySandbox {
				t.Errorf("tool call outside the sandbox boundary: %+v", en)
			}
		case en.Action == "doc.pin" && en.Object == "doc:"+chk.CurrentSHA256:
			pin++
		}
	}
	if verdict != 1 || tools == 0 || pin != 1 {
		t.Errorf("audit: %d verdicts, %d tool calls, %d pins", verdict, tools, pin)
	}

	// The next daily check finds the same drift: the same rebuild is
	// already open, and nothing new is filed.
	r2, err := Run(ctx, e.deps(), Request{Integration: "acme-cloud", OutDir: t.TempDir()})
	if err != nil || r2.Status != StatusDuplicate || r2.ProposalID != 2 || !r2.Filed() || !strings.Contains(r2.Reason, "proposal 2 already proposes this exact spec") {
		t.Errorf("second rebuild: %+v, %v", r2, err)
	}
	if ps, _ := e.gov.Proposals(ctx, governance.StatusOpen); len(ps) != 1 {
		t.Errorf("open proposals: %d", len(ps))
	}
}

func TestRebuildFailureFilesNothing(t *testing.T) {
	e := released(t)
	ctx := t.Context()
	// The vendor drops every NHI list: the agent has nothing to draft.
	doc := read(t, exampleDoc)
	a, b := strings.Index(string(doc), "  /service-accounts:\n"), strings.Index(string(doc), "components:\n")
	e.writeDoc(append(append([]byte{}, doc[:a]...), doc[b:]...))
	chk := e.check()
	if !chk.HasBreaking() {
		t.Fatalf("drift: %+v", chk.Report)
	}
	r, err := Run(ctx, e.deps(), Request{Integration: "acme-cloud", Check: chk, OutDir: filepath.Join(t.TempDir(), "b")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusFailed || r.Filed() || r.ProposalID != 0 || !strings.Contains(r.Reason, "did not pass validation") || !strings.Contains(r.Reason, "no spec") {
		t.Errorf("result: %+v", r)
	}
	if ps, _ := e.gov.Proposals(ctx, ""); len(ps) != 1 {
		t.Errorf("proposals: %d, want only the released one", len(ps))
	}
	if _, err := drift.LoadPinned(ctx, e.db, chk.CurrentSHA256); !errors.Is(err, drift.ErrNoPinnedDoc) {
		t.Errorf("a failed rebuild pinned its doc: %v", err)
	}
	ents, err := e.log.List(ctx, audit.Filter{Action: "rebuild.build"})
	if err != nil || len(ents) != 1 || ents[0].Details["passed"] != false || ents[0].Boundary != audit.BoundarySandbox {
		t.Errorf("audit: %+v %v", ents, err)
	}

	// A doc that is no API description at all cannot even be compared:
	// an error for the caller to alert on, and no proposal either.
	e.writeDoc([]byte("# Acme Cloud\n\nWe moved our API reference to a PDF.\n"))
	if r, err := Run(ctx, e.deps(), Request{Integration: "acme-cloud", OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), e.docPath) {
		t.Errorf("prose doc: %+v, %v", r, err)
	}
	if ps, _ := e.gov.Proposals(ctx, ""); len(ps) != 1 {
		t.Errorf("proposals: %d, want only the released one", len(ps))
	}
}

func TestRebuildStaleCheck(t *testing.T) {
	e := released(t)
	chk := e.check()
	chk.Release = 99
	if _, err := Run(t.Context(), e.deps(), Request{Integration: "acme-cloud", Check: chk, OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "check again") {
		t.Errorf("stale check: %v", err)
	}
	if _, err := Run(t.Context(), Deps{}, Request{Integration: "acme-cloud", OutDir: t.TempDir()}); err == nil {
		t.Error("ran without deps")
	}
	if _, err := Run(t.Context(), e.deps(), Request{Integration: "nope", OutDir: t.TempDir()}); !errors.Is(err, governance.ErrNotFound) {
		t.Errorf("no release: %v", err)
	}
}

package web_test

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/store"
)

// -update-screenshots rewrites docs/screenshots/*.png from the browser run.
var updateScreenshots = flag.Bool("update-screenshots", false, "write the dashboard screenshots to docs/screenshots")

// chromium is Debian's browser; the test skips without it unless
// SPINDLE_REQUIRE_CHROMIUM=1 (CI) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("SPINDLE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("SPINDLE_REQUIRE_CHROMIUM=1 but no Chromium at /usr/bin/chromium: install it with `apt-get install -y chromium`")
	}
	t.Skip("no Chromium at /usr/bin/chromium: install it with `apt-get install -y chromium` to run the browser tests (SPINDLE_REQUIRE_CHROMIUM=1 makes this a failure)")
	return ""
}

// browser starts a headless Chromium with a fresh profile, closed when the
// test ends. The background-networking flags keep it from dialling out,
// which this machine's closed network refuses.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// tab is one browser tab on the rig's dashboard.
type tab struct {
	t   *testing.T
	rg  *rig
	ctx context.Context
}

// newTab opens a tab in the browser (sharing its cookies); noJS turns
// script execution off for it.
func (rg *rig) newTab(bctx context.Context, noJS bool) *tab {
	rg.t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	rg.t.Cleanup(cancel)
	tb := &tab{t: rg.t, rg: rg, ctx: ctx}
	tb.do(chromedp.Navigate("about:blank"), chromedp.EmulateViewport(1280, 900))
	if noJS {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			rg.t.Fatal(err)
		}
	}
	return tb
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	return v
}

// open navigates to path and waits for the page's main heading.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.rg.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
	tb.checkPage(path)
}

// checkPage holds every page to the rules: no secret, one h1, a skip link.
func (tb *tab) checkPage(where string) {
	tb.t.Helper()
	html := run(tb, chromedp.OuterHTML(chromedp.CSS("html")))
	tb.rg.noSecrets("page "+where, html)
	if n := strings.Count(html, "<h1"); n != 1 {
		tb.t.Errorf("page %s has %d h1 headings", where, n)
	}
	if !strings.Contains(html, `href="#main"`) {
		tb.t.Errorf("page %s has no skip link", where)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return run(tb, chromedp.Text(chromedp.CSS(sel)))
}

func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[int]("document.querySelectorAll("+strconv.Quote(sel)+").length"))
}

// login signs in through the form with the keyboard and a real submit.
func (tb *tab) login(who string) {
	tb.t.Helper()
	tb.open("/login")
	tb.do(chromedp.SendKeys(chromedp.CSS("#token"), tb.rg.tokens[who]), chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("header .who")))
	if got := tb.text("header .who"); !strings.Contains(got, who) {
		tb.t.Fatalf("after signing in as %s the header says %q", who, got)
	}
}

func (tb *tab) logout() {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS("header .who button")), chromedp.WaitVisible(chromedp.CSS("#token")))
}

// shot saves a full-page PNG of the current page as docs/screenshots/name
// when -update-screenshots is given; it always checks one can be taken.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	png := run(tb, chromedp.FullScreenshot(100))
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		tb.t.Fatalf("screenshot %s is not a PNG", name)
	}
	if !*updateScreenshots {
		return
	}
	dir := filepath.Join(tb.rg.f.Root, "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// TestBrowserGovernedPath walks the dashboard in headless Chromium: an
// approver signs in with a token, finds the agent's proposal in the queue,
// reads its diff and approves (htmx swaps the result in); a second
// approver approves with JavaScript off (plain form post and redirect),
// which releases it; after a sandbox sync its inventory is in the
// explorer; a viewer sees no approve button, and a forged approve post
// with the viewer's session is refused.
func TestBrowserGovernedPath(t *testing.T) {
	t.Parallel()
	bctx := browser(t)
	rg := newRig(t)
	pid := strconv.FormatInt(rg.proposal, 10)
	proposalPath := "/proposals/" + pid

	js := rg.newTab(bctx, false)
	js.open("/login")
	if got := js.text("main h1"); got != "Sign in to Spindle" {
		t.Fatalf("login page heading %q", got)
	}
	// Keyboard: the first Tab reaches the skip link.
	js.do(chromedp.KeyEvent("\t"))
	if cls := run(js, chromedp.Evaluate[string]("document.activeElement.className")); cls != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", cls)
	}
	js.shot("login.png")

	// carol, with JavaScript: queue → proposal → diff → approve.
	js.login(carol)
	js.open("/proposals")
	if got := js.text("main table tbody"); !strings.Contains(got, "Proposal "+pid) || !strings.Contains(got, rg.name) || !strings.Contains(got, "agent:heuristic") {
		t.Fatalf("the review queue does not list the agent's proposal: %q", got)
	}
	js.do(chromedp.Click(chromedp.CSS(`main a[href="`+proposalPath+`"]`)), chromedp.WaitVisible(chromedp.CSS("pre.diff")))
	js.checkPage(proposalPath)
	if n := js.count("pre.diff span.add"); n < 10 {
		t.Errorf("the new integration's diff shows %d added lines", n)
	}
	if got := js.text("#risk-h + p"); !strings.Contains(got, "Needs 2 approvers") {
		t.Errorf("risk summary %q", got)
	}
	if typ := run(js, chromedp.Evaluate[string]("typeof window.htmx")); typ != "object" {
		t.Fatalf("htmx did not load in the JavaScript tab (typeof htmx = %s): check the CSP and the static route", typ)
	}
	js.shot("proposal.png")
	js.do(chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#decision .success")))
	if got := js.text("#decision"); !strings.Contains(got, "approval is signed") || !strings.Contains(got, "1 of 2 approvals") {
		t.Errorf("after carol's approval the decision section says %q", got)
	}
	// htmx swapped the section in place: the address is still the review's.
	if loc := run(js, chromedp.Location()); strings.Contains(loc, "done=") {
		t.Errorf("the approval navigated to %s; htmx should have swapped it in", loc)
	}
	if js.count("#approve") != 0 {
		t.Error("carol still sees an approve button after deciding")
	}
	js.logout()

	// dan, with JavaScript off: the plain form post and redirect.
	nojs := rg.newTab(bctx, true)
	nojs.login(dan)
	if typ := run(nojs, chromedp.Evaluate[string]("typeof window.htmx")); typ != "undefined" {
		t.Fatalf("scripts ran in the no-JavaScript tab (typeof htmx = %s)", typ)
	}
	nojs.open(proposalPath)
	nojs.do(chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#decision .success")))
	if loc := run(nojs, chromedp.Location()); !strings.HasSuffix(loc, proposalPath+"?done=released") {
		t.Errorf("without JavaScript the approval landed on %s", loc)
	}
	if got := nojs.text("main h1"); !strings.Contains(got, "released") {
		t.Errorf("the proposal's heading after the second approval: %q", got)
	}
	rel, err := rg.f.Env.Gov.Current(rg.f.Ctx, rg.name)
	if err != nil {
		t.Fatalf("no release after two approvals in the browser: %v", err)
	}
	if v, err := rg.f.Env.Gov.Verify(rg.f.Ctx, rg.name); err != nil || !v.OK {
		t.Errorf("release verify after browser approvals: %+v %v", v, err)
	}

	// The integration shows as released; after a sync, its inventory.
	nojs.open("/")
	row := nojs.text("main tbody tr")
	if !strings.Contains(row, rg.name) || !strings.Contains(row, "release "+strconv.FormatInt(rel.ID, 10)) || !strings.Contains(row, "never-synced") {
		t.Errorf("integrations row before the sync: %q", row)
	}
	rg.provision()
	res := rg.sync()
	nojs.open("/")
	if row := nojs.text("main tbody tr"); !strings.Contains(row, "healthy") {
		t.Errorf("integrations row after the sync: %q", row)
	}
	nojs.shot("integrations.png")

	ents, err := rg.f.Env.Inventory.Entities(rg.f.Ctx, store.Query{Source: rg.name})
	if err != nil || len(ents) == 0 || res.Report.Records == 0 {
		t.Fatalf("the sync stored %d entities (%v)", len(ents), err)
	}
	nojs.open("/inventory?source=" + url.QueryEscape(rg.name))
	want := min(len(ents), 50)
	if n := nojs.count("main table tbody tr"); n != want {
		t.Errorf("the explorer shows %d rows of %d entities, want %d", n, len(ents), want)
	}
	nojs.shot("inventory.png")
	// Filter by kind with the form, keyboard-free but real: select and submit.
	kind := string(ents[0].Kind)
	// The new page marks the chosen kind selected; the old one only had
	// its value set.
	nojs.do(chromedp.SetValue(chromedp.CSS("#f-kind"), kind), chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)),
		chromedp.WaitReady(chromedp.CSS(`#f-kind option[selected][value="`+kind+`"]`)))
	kinds := run(nojs, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main tbody tr td:nth-child(2)")].map(td => td.textContent.trim())`))
	if len(kinds) == 0 {
		t.Errorf("filtering by %s shows nothing", kind)
	}
	for _, k := range kinds {
		if k != kind {
			t.Errorf("filtering by kind %s shows a %s", kind, k)
		}
	}
	nojs.do(chromedp.Click(chromedp.CSS("main tbody tr th a")), chromedp.WaitVisible(chromedp.CSS("#id-h")))
	nojs.checkPage("an entity")
	if got := nojs.text("main dl.facts"); !strings.Contains(got, kind) {
		t.Errorf("entity details %q do not name its kind %s", got, kind)
	}

	// A second proposal, a change by the operator, for the review shot and
	// for the viewer.
	next := rg.changeProposal()
	nextPath := "/proposals/" + strconv.FormatInt(next, 10)
	nojs.open(nextPath)
	if nojs.count("pre.diff span.add") == 0 || nojs.count("pre.diff span.del") == 0 {
		t.Error("the change's diff has no added or no removed lines")
	}
	if nojs.count("#approve") != 1 || nojs.count("#reject") != 1 {
		t.Error("dan, an approver with a custodied key, gets no decision forms on the operator's change")
	}
	nojs.shot("proposal-change.png")

	nojs.open("/audit")
	nojs.do(chromedp.Click(chromedp.CSS("#verify-chain")), chromedp.WaitVisible(chromedp.CSS("#verify .success")))
	if got := nojs.text("#verify"); !strings.Contains(got, "verified") {
		t.Errorf("verify chain says %q", got)
	}
	nojs.shot("audit.png")
	nojs.logout()

	// victor, a viewer: no decision forms, and a forged post is refused.
	js.login(victor)
	js.open(nextPath)
	if js.count("#approve")+js.count("#reject") != 0 {
		t.Error("the viewer sees a decision form")
	}
	if got := js.text("#decision"); !strings.Contains(got, "Only approvers decide") {
		t.Errorf("the viewer is not told why there is no form: %q", got)
	}
	// The forged post carries the viewer's own session and CSRF token, as
	// a viewer crafting the request would.
	c := rg.client(rg.tokens[victor])
	_, page := rg.get(c, nextPath)
	status, _, body := rg.post(c, nextPath+"/approve", url.Values{"csrf": {csrf(t, page)}, "digest": {rg.digest(next)}})
	if status != http.StatusForbidden || !strings.Contains(body, "may not approve") {
		t.Errorf("a viewer's forged approve got %d", status)
	}
	rev, err := rg.f.Env.Gov.Review(rg.f.Ctx, next)
	if err != nil || len(rev.Decisions) != 0 || rev.Proposal.Status != governance.StatusOpen {
		t.Errorf("after the viewer's forged post: %+v %v", rev, err)
	}
}

// changeProposal has the operator propose a change to the released spec
// (another owner and page size) and returns its id.
func (rg *rig) changeProposal() int64 {
	rg.t.Helper()
	rel, err := rg.f.Env.Gov.ReleasedSpec(rg.f.Ctx, rg.name)
	if err != nil {
		rg.t.Fatal(err)
	}
	spec := string(rel.Spec)
	changed := strings.Replace(spec, "identity-team@example.com", "platform-security@example.com", 1)
	if changed == spec {
		rg.t.Fatal("the released spec no longer names its owner identity-team@example.com")
	}
	p, err := rg.f.Env.Gov.Propose(rg.f.Ctx, governance.ProposeInput{Spec: []byte(changed), Author: prodtest.Operator})
	if err != nil {
		rg.t.Fatal(err)
	}
	return p.ID
}

func (rg *rig) digest(id int64) string {
	rg.t.Helper()
	p, err := rg.f.Env.Gov.Proposal(rg.f.Ctx, id)
	if err != nil {
		rg.t.Fatal(err)
	}
	return p.SpecDigest
}

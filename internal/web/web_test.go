package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/store"
)

// htmxSHA256 is the digest of htmx.org 2.0.11's dist/htmx.min.js from the
// npm registry, as static/README.md records it.
const htmxSHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"

func TestVendoredHTMX(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != htmxSHA256 {
		t.Errorf("static/htmx.min.js has sha256 %s, not htmx 2.0.11's %s: restore it from the npm registry or record the new version", got, htmxSHA256)
	}
	readme, err := os.ReadFile("static/README.md")
	if err != nil || !strings.Contains(string(readme), htmxSHA256) || !strings.Contains(string(readme), "2.0.11") {
		t.Errorf("static/README.md does not record htmx 2.0.11 and its digest (%v)", err)
	}
}

var staticRef = regexp.MustCompile(`(?:src|href)="(/static/([0-9a-f]+)/([a-z.]+))"`)

func TestStaticAssetsCachedByContent(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	c := rg.client("")
	_, login := rg.get(c, "/login")
	refs := staticRef.FindAllStringSubmatch(login, -1)
	if len(refs) != 2 {
		t.Fatalf("the login page references %d static files, want the style sheet and htmx: %s", len(refs), login)
	}
	for _, ref := range refs {
		resp, err := c.Get(rg.srv.URL + ref[1])
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		sum := sha256.Sum256([]byte(body))
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(hex.EncodeToString(sum[:]), ref[2]) {
			t.Errorf("%s: %d, content hash %x does not start with the URL's", ref[1], resp.StatusCode, sum[:6])
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", ref[1], cc)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s: Content-Type %q", ref[1], ct)
		}
		// Another hash is a file this build does not have.
		stale, err := c.Get(rg.srv.URL + "/static/000000000000/" + ref[3])
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, stale)
		if stale.StatusCode != http.StatusNotFound || strings.Contains(stale.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("a stale hash of %s: %d %q", ref[3], stale.StatusCode, stale.Header.Get("Cache-Control"))
		}
	}
	// No page carries inline script or style: the CSP forbids them.
	for _, bad := range []string{"<style", " style=", "<script>", " onclick=", "javascript:"} {
		if strings.Contains(login, bad) {
			t.Errorf("the login page has %q", bad)
		}
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	tests := []struct {
		name   string
		token  string
		status int
		want   string
	}{
		// The server answers the login post (with its rate limit) and
		// sends a refusal back to the login page, which says why.
		{"empty", "", http.StatusSeeOther, "was not accepted"},
		{"not a token", "hunter2", http.StatusSeeOther, "was not accepted"},
		{"unknown token", "spx_" + strings.Repeat("A", 43), http.StatusSeeOther, "was not accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rg.client("")
			status, loc, body := rg.post(c, "/login", url.Values{"token": {tc.token}, "next": {"/audit"}})
			if status != tc.status || loc != "/login?error=1" {
				t.Fatalf("%d %q: %s", status, loc, body)
			}
			_, page := rg.get(c, loc)
			if !strings.Contains(page, tc.want) {
				t.Errorf("the login page after a refusal: %s", page)
			}
			if tc.token != "" && (strings.Contains(body, tc.token) || strings.Contains(page, tc.token)) {
				t.Error("the refused token is echoed on the page")
			}
		})
	}
	t.Run("good token returns to next, never off-site", func(t *testing.T) {
		for next, want := range map[string]string{"/audit?actor=root": "/audit?actor=root", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil": "/"} {
			c := rg.client("")
			status, loc, _ := rg.post(c, "/login", url.Values{"token": {rg.tokens[carol]}, "next": {next}})
			if status != http.StatusSeeOther || loc != want {
				t.Errorf("next %q: %d to %q, want %q", next, status, loc, want)
			}
		}
	})
	t.Run("pages need a session", func(t *testing.T) {
		c := rg.client("")
		for _, p := range []string{"/", "/proposals", "/proposals/1", "/inventory", "/audit"} {
			nc := *c
			nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := nc.Get(rg.srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(p) {
				t.Errorf("GET %s without a session: %d to %q", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		c := rg.client(rg.tokens[carol])
		_, page := rg.get(c, "/")
		status, loc, _ := rg.post(c, "/logout", url.Values{"csrf": {csrf(t, page)}})
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Fatalf("logout: %d %q", status, loc)
		}
		resp, err := c.Get(rg.srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.Request.URL.Path != "/login" {
			t.Errorf("after logout / shows %s", resp.Request.URL)
		}
	})
}

// TestDecisionsRefused posts decisions that must not be recorded, each
// from a real session, and checks none was.
func TestDecisionsRefused(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	path := "/proposals/" + strconv.FormatInt(rg.proposal, 10)
	digest := rg.digest(rg.proposal)
	carolC := rg.client(rg.tokens[carol])
	_, carolPage := rg.get(carolC, path)
	victorC := rg.client(rg.tokens[victor])
	_, victorPage := rg.get(victorC, path)
	bobC := rg.client(rg.tokens["bob"])
	_, bobPage := rg.get(bobC, path)

	tests := []struct {
		name   string
		c      *http.Client
		action string
		form   url.Values
		status int
		want   string
	}{
		{"viewer with its own csrf", victorC, "approve", url.Values{"csrf": {csrf(t, victorPage)}, "digest": {digest}}, http.StatusForbidden, "may not approve"},
		{"viewer rejects", victorC, "reject", url.Values{"csrf": {csrf(t, victorPage)}, "digest": {digest}, "reason": {"no"}}, http.StatusForbidden, "may not reject"},
		{"no csrf", carolC, "approve", url.Values{"digest": {digest}}, http.StatusForbidden, "form is out of date"},
		{"another session's csrf", carolC, "approve", url.Values{"csrf": {csrf(t, victorPage)}, "digest": {digest}}, http.StatusForbidden, "form is out of date"},
		{"not the reviewed spec", carolC, "approve", url.Values{"csrf": {csrf(t, carolPage)}, "digest": {strings.Repeat("0", 64)}}, http.StatusConflict, "not the"},
		{"no digest", carolC, "approve", url.Values{"csrf": {csrf(t, carolPage)}}, http.StatusBadRequest, "which spec you reviewed"},
		{"reject without a reason", carolC, "reject", url.Values{"csrf": {csrf(t, carolPage)}, "digest": {digest}, "reason": {"  "}}, http.StatusUnprocessableEntity, "needs a reason"},
		{"key only in a file", bobC, "approve", url.Values{"csrf": {csrf(t, bobPage)}, "digest": {digest}}, http.StatusConflict, "--custody server"},
		{"no session", rg.client(""), "approve", url.Values{"csrf": {csrf(t, carolPage)}, "digest": {digest}}, http.StatusSeeOther, ""},
		{"no such proposal", carolC, "approve", url.Values{"csrf": {csrf(t, carolPage)}, "digest": {digest}}, http.StatusNotFound, "no proposal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := path
			if tc.name == "no such proposal" {
				p = "/proposals/999"
			}
			status, loc, body := rg.post(tc.c, p+"/"+tc.action, tc.form)
			wantLoc := ""
			if tc.status == http.StatusSeeOther {
				wantLoc = "/login" // the server sends a post without a session to sign in
			}
			if status != tc.status || loc != wantLoc || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want %d with %q:\n%s", status, loc, tc.status, tc.want, body)
			}
		})
	}
	rev, err := rg.f.Env.Gov.Review(rg.f.Ctx, rg.proposal)
	if err != nil || len(rev.Decisions) != 0 || rev.Proposal.Status != governance.StatusOpen {
		t.Fatalf("a refused decision was recorded: %+v %v", rev.Decisions, err)
	}
	// What each sees: forms only for the approver whose key the server holds.
	for who, page := range map[string]string{carol: carolPage, victor: victorPage, "bob": bobPage} {
		hasForm := strings.Contains(page, `id="approve"`)
		if hasForm != (who == carol) {
			t.Errorf("%s sees an approve form: %v", who, hasForm)
		}
	}
	if !strings.Contains(bobPage, "spindle keys create bob --custody server") {
		t.Error("bob, whose key is a file, is not told how to get one the server holds")
	}
}

func TestAuthorCannotApprove(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	spec := rg.f.Spec("acme-other", "")
	p, err := rg.f.Env.Gov.Propose(rg.f.Ctx, governance.ProposeInput{Spec: spec, Author: carol})
	if err != nil {
		t.Fatal(err)
	}
	path := "/proposals/" + strconv.FormatInt(p.ID, 10)
	c := rg.client(rg.tokens[carol])
	_, page := rg.get(c, path)
	if strings.Contains(page, `id="approve"`) || !strings.Contains(page, "You wrote this proposal") {
		t.Errorf("the author's view of their proposal offers a decision")
	}
	status, _, body := rg.post(c, path+"/approve", url.Values{"csrf": {csrf(t, page)}, "digest": {p.SpecDigest}})
	if status != http.StatusForbidden || !strings.Contains(body, "cannot approve") {
		t.Errorf("the author's own approval: %d\n%s", status, body)
	}
}

// TestApproveWithoutJavaScript is the plain form path: post, redirect,
// the review shows the outcome; the second approval releases.
func TestApproveWithoutJavaScript(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	path := "/proposals/" + strconv.FormatInt(rg.proposal, 10)
	for i, who := range []string{carol, dan} {
		c := rg.client(rg.tokens[who])
		_, page := rg.get(c, path)
		status, loc, _ := rg.post(c, path+"/approve", url.Values{"csrf": {csrf(t, page)}, "digest": {rg.digest(rg.proposal)}})
		want := path + "?done=approved"
		if i == 1 {
			want = path + "?done=released"
		}
		if status != http.StatusSeeOther || loc != want {
			t.Fatalf("%s approves: %d to %q, want %q", who, status, loc, want)
		}
		_, after := rg.get(c, loc)
		if !strings.Contains(after, "Your approval is signed and recorded") || strings.Contains(after, `id="approve"`) {
			t.Errorf("%s's review after approving:\n%s", who, after)
		}
	}
	v, err := rg.f.Env.Gov.Verify(rg.f.Ctx, rg.name)
	if err != nil || !v.OK {
		t.Fatalf("the dashboard's release does not verify: %+v %v", v, err)
	}
	// The done= notice is chosen from fixed texts: the query cannot write.
	_, page := rg.get(rg.client(rg.tokens[victor]), path+"?done=<script>alert(1)</script>")
	if strings.Contains(page, "alert(1)") {
		t.Error("the done parameter is reflected into the page")
	}
}

// released approves the agent's proposal with carol's and dan's custodied
// keys, provisions it and syncs it.
func (rg *rig) released() {
	rg.t.Helper()
	for _, who := range []string{carol, dan} {
		key, err := rg.keys.SigningKey(rg.f.Ctx, who)
		if err != nil {
			rg.t.Fatal(err)
		}
		if _, err := rg.f.Env.Gov.Approve(rg.f.Ctx, governance.DecideInput{ProposalID: rg.proposal, Approver: who, Key: key}); err != nil {
			rg.t.Fatal(err)
		}
	}
	rg.provision()
	rg.sync()
}

var (
	rowRE   = regexp.MustCompile(`(?s)<tr>\s*<th scope="row"><a href="/inventory/(nhi_[0-9a-f]+)">.*?</tr>`)
	cellsRE = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRE   = regexp.MustCompile(`<[^>]+>`)
)

// inventoryRows are the explorer's rows as their cells' text.
func inventoryRows(body string) [][]string {
	var out [][]string
	for _, row := range rowRE.FindAllString(body, -1) {
		var cells []string
		for _, m := range cellsRE.FindAllStringSubmatch(row, -1) {
			cells = append(cells, strings.TrimSpace(tagRE.ReplaceAllString(m[1], "")))
		}
		out = append(out, cells)
	}
	return out
}

func TestInventoryExplorer(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	rg.released()
	all, err := rg.f.Env.Inventory.Entities(rg.f.Ctx, store.Query{Source: rg.name})
	if err != nil || len(all) <= 50 {
		t.Fatalf("the sandbox sync gave %d entities; the paging test needs more than a page (%v)", len(all), err)
	}
	count := func(f func(store.Entity) bool) int {
		n := 0
		for _, e := range all {
			if f(e) {
				n++
			}
		}
		return n
	}
	c := rg.client(rg.tokens[victor])
	tests := []struct {
		name  string
		query string
		// col is the cell every row must hold value in (-1: no check).
		col   int
		value string
		total int
	}{
		{"everything", "", -1, "", len(all)},
		{"kind", "?kind=api_key", 0, "api_key", count(func(e store.Entity) bool { return e.Kind == "api_key" })},
		{"source", "?source=" + rg.name, 1, rg.name, len(all)},
		{"status", "?status=revoked", 2, "revoked", count(func(e store.Entity) bool { return e.Status != nil && *e.Status == "revoked" })},
		{"presence", "?presence=gone", 3, "gone", 0},
		{"kind and status", "?kind=api_key&status=active", 2, "active",
			count(func(e store.Entity) bool { return e.Kind == "api_key" && e.Status != nil && *e.Status == "active" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := 0
			next := "/inventory" + tc.query
			for pages := 0; next != ""; pages++ {
				if pages > 20 {
					t.Fatal("the explorer's pages do not end")
				}
				status, body := rg.get(c, next)
				if status != http.StatusOK {
					t.Fatalf("%s: %d", next, status)
				}
				rows := inventoryRows(body)
				if len(rows) > 50 {
					t.Errorf("%s shows %d rows on one page", next, len(rows))
				}
				for _, r := range rows {
					if tc.col >= 0 && (len(r) <= tc.col || r[tc.col] != tc.value) {
						t.Errorf("%s: row %v does not have %s", next, r, tc.value)
					}
				}
				seen += len(rows)
				next = ""
				if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
					next = strings.ReplaceAll(m[1], "&amp;", "&")
				}
			}
			if seen != tc.total {
				t.Errorf("paging through %q shows %d entities, want %d", tc.query, seen, tc.total)
			}
		})
	}
	if status, _ := rg.get(c, "/inventory?kind=nonsense"); status != http.StatusBadRequest {
		t.Errorf("an unknown kind: %d", status)
	}
	status, body := rg.get(c, "/inventory/"+all[0].ID)
	if status != http.StatusOK || !strings.Contains(body, all[0].ExternalID) {
		t.Errorf("entity page: %d", status)
	}
	if status, _ := rg.get(c, "/inventory/nhi_nope"); status != http.StatusNotFound {
		t.Errorf("an unknown entity: %d", status)
	}
}

// seed stores records as one complete run of source's stream "seed".
func (rg *rig) seed(source string, recs ...*nhi.Record) {
	rg.t.Helper()
	ctx := rg.f.Ctx
	sy, err := rg.f.Env.Inventory.BeginSync(ctx, source, "", time.Now())
	if err != nil {
		rg.t.Fatal(err)
	}
	defer sy.Rollback()
	for _, r := range recs {
		if err := sy.Put(ctx, "seed", r); err != nil {
			rg.t.Fatal(err)
		}
	}
	if err := sy.EndStream(ctx, store.StreamResult{Stream: "seed", Outcome: store.Complete, Records: len(recs)}); err != nil {
		rg.t.Fatal(err)
	}
	if _, err := sy.Commit(ctx, time.Now()); err != nil {
		rg.t.Fatal(err)
	}
}

// TestInventoryFindings: a key with no owner and no expiry shows those
// findings in the explorer and on its page; an owned, expiring key shows
// none; the finding filter keeps exactly the keys that have the finding.
func TestInventoryFindings(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	now := time.Now().UTC()
	key := func(id string, owned, expiring bool) *nhi.Record {
		st, pr, ct := nhi.Active, nhi.Read, nhi.Static
		created, used := now.Add(-24*time.Hour), now.Add(-time.Hour)
		r := &nhi.Record{ID: nhi.StableID("seeded", nhi.APIKey, id), Source: "seeded", Kind: nhi.APIKey, ExternalID: id, Name: &id,
			Status: &st, Privilege: &pr, CredentialType: &ct, CreatedAt: &created, LastUsedAt: &used}
		if owned {
			o := nhi.NewRef("seeded", nhi.HumanUser, "u1")
			r.Owner = &o
		}
		if expiring {
			exp := now.Add(30 * 24 * time.Hour)
			r.ExpiresAt = &exp
		}
		return r
	}
	orphan, tidy, ownerless := key("orphan-key", false, false), key("tidy-key", true, true), key("ownerless-key", false, true)
	rg.seed("seeded", orphan, tidy, ownerless)
	c := rg.client(rg.tokens[victor])

	// rows maps each row's name to its findings cell.
	rows := func(path string) map[string]string {
		t.Helper()
		status, body := rg.get(c, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, status)
		}
		out := map[string]string{}
		for _, row := range rowRE.FindAllString(body, -1) {
			name := strings.TrimSpace(tagRE.ReplaceAllString(regexp.MustCompile(`(?s)<th scope="row">(.*?)</th>`).FindStringSubmatch(row)[1], ""))
			cells := inventoryRows(row)[0]
			out[name] = strings.Join(strings.Fields(cells[len(cells)-1]), " ")
		}
		return out
	}
	all := rows("/inventory?source=seeded")
	want := map[string][]string{
		"orphan-key":    {"medium No owner", "medium Long-lived secret"},
		"ownerless-key": {"medium No owner"},
		"tidy-key":      {"none"},
	}
	if len(all) != len(want) {
		t.Fatalf("the explorer shows %v", all)
	}
	for name, fs := range want {
		for _, f := range fs {
			if !strings.Contains(all[name], f) {
				t.Errorf("%s: findings cell %q lacks %q", name, all[name], f)
			}
		}
	}
	if strings.Contains(all["ownerless-key"], "Long-lived") {
		t.Errorf("an expiring key shows a long-lived secret: %q", all["ownerless-key"])
	}

	filters := []struct {
		finding string
		want    []string
	}{
		{findings.NoOwner, []string{"orphan-key", "ownerless-key"}},
		{findings.LongLivedSecret, []string{"orphan-key"}},
		{findings.Overprivileged, nil},
	}
	for _, f := range filters {
		got := rows("/inventory?finding=" + url.QueryEscape(f.finding))
		var names []string
		for n := range got {
			names = append(names, n)
		}
		slices.Sort(names)
		if !slices.Equal(names, f.want) {
			t.Errorf("finding=%s shows %v, want %v", f.finding, names, f.want)
		}
	}
	_, body := rg.get(c, "/inventory?finding="+findings.NoOwner)
	if !strings.Contains(body, `<option value="`+findings.NoOwner+`" selected>`) || !strings.Contains(body, `<label for="f-finding">`) {
		t.Error("the finding select is unlabelled or does not keep the choice")
	}
	if status, _ := rg.get(c, "/inventory?finding=NHI1"); status != http.StatusBadRequest {
		t.Errorf("an unknown finding: %d", status)
	}

	// The entity page gives each finding with its risk and evidence.
	status, body := rg.get(c, "/inventory/"+orphan.ID)
	if status != http.StatusOK {
		t.Fatalf("entity page: %d", status)
	}
	for _, w := range []string{"No owner", "NHI1:2025 Improper Offboarding", "owner is null", "Long-lived secret", "NHI7:2025 Long-Lived Secrets", "expires_at null"} {
		if !strings.Contains(body, w) {
			t.Errorf("the entity page does not say %q", w)
		}
	}
	if _, body := rg.get(c, "/inventory/"+tidy.ID); !strings.Contains(body, "None: no rule") {
		t.Error("the tidy key's page does not say it has no findings")
	}
}

// TestRolesSeeTheirPages: the token's role decides which pages open.
func TestRolesSeeTheirPages(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	tests := []struct {
		who  string
		page string
		want int
	}{
		{victor, "/", http.StatusOK},
		{victor, "/inventory", http.StatusOK},
		{victor, "/audit", http.StatusOK},
		{agentName, "/proposals", http.StatusOK},
		{agentName, "/inventory", http.StatusForbidden},
		{agentName, "/audit", http.StatusForbidden},
		{prodtest.Operator, "/audit", http.StatusOK},
	}
	for _, tc := range tests {
		status, body := rg.get(rg.client(rg.tokens[tc.who]), tc.page)
		if status != tc.want {
			t.Errorf("%s GET %s: %d, want %d", tc.who, tc.page, status, tc.want)
		}
		if tc.want == http.StatusForbidden && !strings.Contains(body, "may not see this page") {
			t.Errorf("%s GET %s: the refusal does not say why", tc.who, tc.page)
		}
	}
}

var auditRowRE = regexp.MustCompile(`(?s)<tr>\s*<th scope="row">(\d+)</th>.*?</tr>`)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	rg := newRig(t)
	rg.released()
	// Enough entries for three pages.
	for i := range 120 {
		if _, err := rg.f.Env.Audit.Append(rg.f.Ctx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "root"}, Action: "test.note",
			Object: "note:" + strconv.Itoa(i), Boundary: audit.BoundaryNone}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := rg.f.Env.Audit.List(rg.f.Ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	c := rg.client(rg.tokens[victor])
	// Paging newest first through everything sees every seq once, descending.
	var seqs []int
	next := "/audit"
	for next != "" {
		_, body := rg.get(c, next)
		for _, m := range auditRowRE.FindAllStringSubmatch(body, -1) {
			n, _ := strconv.Atoi(m[1])
			seqs = append(seqs, n)
		}
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	// The viewer's own reads add session entries while paging: compare
	// with the log as it was when paging began.
	if len(seqs) < len(es) {
		t.Fatalf("paging showed %d entries of %d", len(seqs), len(es))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] >= seqs[i-1] {
			t.Fatalf("entries not newest first at %d: %v", i, seqs[max(0, i-2):i+1])
		}
	}
	tests := []struct{ query, want string }{
		{"?actor=carol", "carol"},
		{"?action=proposal.approve", "proposal.approve"},
		{"?action=sync", "sync."},
	}
	for _, tc := range tests {
		_, body := rg.get(c, "/audit"+tc.query)
		rows := auditRowRE.FindAllString(body, -1)
		if len(rows) == 0 {
			t.Errorf("%s shows nothing", tc.query)
		}
		for _, r := range rows {
			if !strings.Contains(r, tc.want) {
				t.Errorf("%s shows a row without %q", tc.query, tc.want)
			}
		}
	}
	_, body := rg.get(c, "/audit?verify=1")
	if !strings.Contains(body, "hash-chain correctly") {
		t.Errorf("verify did not report an intact chain")
	}
	// Someone with write access to the database drops the append-only
	// trigger and edits an entry: the page says so.
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET object = 'tampered' WHERE seq = 2`} {
		if _, err := rg.f.Opened.DB.ExecContext(rg.f.Ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, body = rg.get(c, "/audit?verify=1")
	if !strings.Contains(body, "does not verify") || !strings.Contains(body, "entry 2") {
		t.Errorf("verify did not report the tampered entry")
	}
}

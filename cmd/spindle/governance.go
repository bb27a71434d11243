package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/governance"
)

// governanceCommands registers the release gate: propose, review, approve,
// reject, keys, release and role.
func (a *app) governanceCommands() []*cobra.Command {
	return []*cobra.Command{a.proposeCmd(), a.reviewCmd(), a.approveCmd(), a.rejectCmd(), a.keysCmd(), a.releaseCmd(), a.roleCmd()}
}

// openGov opens the database at --db with its audit log and governance.
// With mustExist a missing database is an error instead of a new empty
// one, so reading and deciding never create files.
func (a *app) openGov(cmd *cobra.Command, mustExist bool) (*governance.Service, func() error, error) {
	st, err := a.openDB(cmd.Context(), mustExist, "no database at %s: nothing was proposed there; pass --db (or set SPINDLE_DB) to the database your proposals went to")
	if err != nil {
		return nil, nil, err
	}
	g, err := governance.New(st.DB(), governance.Options{Audit: audit.New(st.DB(), audit.Options{})})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return g, st.Close, nil
}

func (a *app) govJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// proposalID parses a proposal ID argument; a bad one is a usage error.
func parseProposalID(cmd *cobra.Command, s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &exitError{2, fmt.Errorf("%q is not a proposal ID; list the open ones with `spindle review` (see `%s --help`)", s, cmd.CommandPath())}
	}
	return id, nil
}

// needAs makes --as required with a usage error that says why.
func govNeedAs(cmd *cobra.Command, as, what string) (string, error) {
	as = strings.TrimSpace(as)
	if as == "" {
		return "", &exitError{2, fmt.Errorf("say who you are: pass --as NAME (%s) (see `%s --help`)", what, cmd.CommandPath())}
	}
	return as, nil
}

func (a *app) proposeCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "propose DIR",
		Short: "Register a build bundle as a proposal for people to review",
		Long: `Registers the bundle ` + "`spindle build`" + ` wrote (DIR/integration.yaml, byte for
byte, and DIR/report.json) as an open proposal. Its spec digest is the
sha256 of integration.yaml; every approval signs that digest, so any edit
afterwards is a new proposal.

The author is the agent that built it ("agent:<brain>", from report.json),
or with --as a person (who needs a role that may propose). The author can
never approve their own proposal.

The exact vendor doc the spec was built from (metadata.source_doc) is pinned
in the database by its sha256, as the baseline of "spindle drift check": it
is read from DIR/source-doc when the bundle carries a copy, else from the
recorded location, and must hash to the spec's source_doc.sha256. A doc that
changed since the build is refused (rebuild from the current doc); one that
cannot be read is a warning, and drift checks then have no baseline.`,
		Example: `  spindle build examples/docs/acme-keys.yaml --out proposals/acme-cloud
  spindle propose proposals/acme-cloud
  spindle propose proposals/acme-cloud --as alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := governance.ReadBundle(args[0])
			if err != nil {
				return err
			}
			in.Author = strings.TrimSpace(as)
			st, g, log, err := a.openDrift(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer st.Close()
			// The doc the spec was built from becomes drift's baseline.
			if err := a.pinProposalDoc(cmd.Context(), st, g, log, args[0], in); err != nil {
				return err
			}
			p, err := g.Propose(cmd.Context(), in)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(p)
			}
			base := "a new integration"
			if p.BaseRelease != nil {
				base = fmt.Sprintf("replacing release %d", *p.BaseRelease)
			}
			fmt.Fprintf(a.stdout, "proposal %d: %s by %s, %s\nspec sha256 %s\nnext: spindle review %d\n", p.ID, p.Integration, p.Author, base, p.SpecDigest, p.ID)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "propose as this person (default: the agent that built the bundle)")
	return c
}

func (a *app) reviewCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "review [ID]",
		Short: "Show the open proposals, or everything a person needs to decide on one",
		Long: `Without ID: the review queue (open proposals, oldest first).

With ID: the proposal's spec as a unified diff against the integration's
current release (or the whole spec of a new integration), the build's
scorecard (passed, failed and warned checks), the credential and scopes to
provision, the hosts it contacts, and the risk summary — new auth, new
scopes, new hosts and write methods compared with the current release.
Any flagged risk needs two distinct approvers; otherwise one.`,
		Example: `  spindle review
  spindle review 3
  spindle review 3 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if len(args) == 1 {
				var err error
				if id, err = parseProposalID(cmd, args[0]); err != nil {
					return err
				}
			}
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			if len(args) == 0 {
				q, err := g.Queue(cmd.Context())
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.govJSON(q)
				}
				if len(q) == 0 {
					fmt.Fprintln(a.stdout, "no open proposals")
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tINTEGRATION\tAUTHOR\tAPPROVALS\tCREATED\tSUMMARY")
				for _, r := range q {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d of %d\t%s\t%s\n", r.Proposal.ID, r.Proposal.Integration, r.Proposal.Author,
						r.Approvals, r.Risk.Required, r.Proposal.CreatedAt.Format(time.RFC3339), r.Summary())
				}
				return tw.Flush()
			}
			r, err := g.Review(cmd.Context(), id)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(r)
			}
			printReview(a.stdout, r)
			return nil
		},
	}
	return c
}

func printReview(w io.Writer, r *governance.Review) {
	p := r.Proposal
	fmt.Fprintf(w, "proposal %d · %s · %s · by %s (%s) · %s\n", p.ID, p.Integration, p.Status, p.Author, p.AuthorKind, p.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "spec sha256 %s\n", p.SpecDigest)
	if p.Status != governance.StatusOpen {
		fmt.Fprintf(w, "closed by %s: %s\n", p.ClosedBy, p.Reason)
	}
	if r.Base != nil {
		fmt.Fprintf(w, "against release %d (sha256 %s, approved by %s)\n", r.Base.ID, r.Base.SpecDigest, strings.Join(r.Base.Approvers, ", "))
	} else {
		fmt.Fprintln(w, "new integration: no release to compare with")
	}

	v := r.Validation
	verdict := "PASSED"
	if !v.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "\nValidation: %s (%d checks", verdict, v.Checks)
	if v.Brain != "" {
		fmt.Fprintf(w, ", %s brain", v.Brain)
	}
	fmt.Fprintln(w, ") — from the bundle's report; the spec below is what approvals bind")
	if v.Reason != "" {
		fmt.Fprintf(w, "  %s\n", v.Reason)
	}
	if v.Doc != "" {
		fmt.Fprintf(w, "  doc: %s (sha256 %s)\n", v.Doc, v.DocSHA)
	}
	for _, f := range v.Failed {
		fmt.Fprintf(w, "  FAIL %s\n", f)
	}
	for _, f := range v.Warned {
		fmt.Fprintf(w, "  warn %s\n", f)
	}
	for _, f := range v.Refused {
		fmt.Fprintf(w, "  lint refused during the build: %s\n", f)
	}

	fmt.Fprintln(w)
	cred := r.Credential
	if cred == "" {
		cred = "(none)"
	}
	fmt.Fprintf(w, "Credential to provision: %s (auth %s)\n", cred, r.AuthType)
	scopes := "(none in the spec)"
	if len(r.Scopes) > 0 {
		scopes = strings.Join(r.Scopes, ", ")
	}
	fmt.Fprintf(w, "Scopes: %s\n", scopes)
	for _, d := range r.DocScopes {
		fmt.Fprintf(w, "  least privilege the doc names (%s): %s\n", d.Scheme, strings.Join(d.Scopes, ", "))
	}
	fmt.Fprintf(w, "Hosts contacted: %s\n", strings.Join(r.Hosts, ", "))
	fmt.Fprintln(w, "Streams:")
	for _, s := range r.Streams {
		fmt.Fprintf(w, "  %s\n", s)
	}

	fmt.Fprintf(w, "\nRisk: %d approver(s) required\n", r.Risk.Required)
	if len(r.Risk.Items) == 0 {
		fmt.Fprintln(w, "  no change to auth, scopes, hosts or write methods")
	}
	for _, it := range r.Risk.Items {
		fmt.Fprintf(w, "  ! %-6s %s\n", it.Kind, it.What)
	}
	for _, s := range r.Risk.Writes {
		fmt.Fprintf(w, "  write method: %s\n", s)
	}
	if len(r.Questions) > 0 {
		fmt.Fprintln(w, "\nQuestions from the build:")
		for _, q := range r.Questions {
			fmt.Fprintf(w, "  - %s\n", q)
		}
	}

	fmt.Fprintln(w, "\nDecisions:")
	if len(r.Decisions) == 0 {
		fmt.Fprintln(w, "  none yet")
	}
	for _, d := range r.Decisions {
		line := fmt.Sprintf("  %s %s at %s (key %s)", d.Approver, d.Decision, d.Time, d.KeyFingerprint)
		if d.Reason != "" {
			line += ": " + d.Reason
		}
		fmt.Fprintln(w, line)
	}
	if p.Status == governance.StatusOpen {
		fmt.Fprintf(w, "  %d of %d approvals; %d more needed from someone other than %s\n", r.Approvals, r.Risk.Required, r.Needed, p.Author)
		fmt.Fprintf(w, "  approve: spindle approve %d --as NAME --digest %s\n", p.ID, p.SpecDigest)
	}

	if r.Base != nil {
		fmt.Fprintln(w, "\nDiff:")
		if r.Diff == "" {
			fmt.Fprintln(w, "  (identical)")
		}
		fmt.Fprint(w, r.Diff)
	} else {
		fmt.Fprintln(w, "\nSpec (new integration):")
		fmt.Fprint(w, r.Spec)
		if !strings.HasSuffix(r.Spec, "\n") {
			fmt.Fprintln(w)
		}
	}
}

// signingKey resolves and loads the key for name: --key, else
// --key-dir/NAME.ed25519, else the default key directory.
func keyFileFor(name, keyFile, keyDir string) (string, error) {
	if keyFile != "" {
		return keyFile, nil
	}
	if keyDir == "" {
		d, err := governance.DefaultKeyDir()
		if err != nil {
			return "", err
		}
		keyDir = d
	}
	return governance.KeyPath(keyDir, name), nil
}

type decideFlags struct {
	as, keyFile, keyDir, digest, reason string
}

func (f *decideFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.as, "as", "", "the person deciding (required; their key signs the decision)")
	c.Flags().StringVar(&f.keyFile, "key", "", "their private key file (default: KEY-DIR/NAME.ed25519)")
	c.Flags().StringVar(&f.keyDir, "key-dir", "", "directory of private keys (default $SPINDLE_KEY_DIR or ~/.config/spindle/keys)")
}

func (a *app) decide(cmd *cobra.Command, args []string, f *decideFlags, decision string) error {
	id, err := parseProposalID(cmd, args[0])
	if err != nil {
		return err
	}
	who, err := govNeedAs(cmd, f.as, "the person deciding; their key signs it")
	if err != nil {
		return err
	}
	if decision == governance.DecisionReject && strings.TrimSpace(f.reason) == "" {
		return &exitError{2, fmt.Errorf("--reason is required: say what the author should change (see `%s --help`)", cmd.CommandPath())}
	}
	g, closeDB, err := a.openGov(cmd, true)
	if err != nil {
		return err
	}
	defer closeDB()
	// The role first: an agent or a viewer hears that they may not decide,
	// not that they have no key file.
	action := governance.ActionProposalApprove
	if decision == governance.DecisionReject {
		action = governance.ActionProposalReject
	}
	if err := g.Authorize(cmd.Context(), who, action); err != nil {
		return err
	}
	path, err := keyFileFor(who, f.keyFile, f.keyDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no private key at %s: create one with `spindle keys create %s`, or pass --key FILE (or --key-dir DIR)", who, path, who)
	}
	key, err := governance.LoadPrivateKey(path)
	if err != nil {
		return err
	}
	in := governance.DecideInput{ProposalID: id, Approver: who, Key: key, Digest: strings.TrimSpace(f.digest), Reason: f.reason}
	var d *governance.Decided
	if decision == governance.DecisionReject {
		d, err = g.Reject(cmd.Context(), in)
	} else {
		d, err = g.Approve(cmd.Context(), in)
	}
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.govJSON(d)
	}
	st := d.Approval.Statement
	if decision == governance.DecisionReject {
		fmt.Fprintf(a.stdout, "%s rejected proposal %d (%s): %s\nsigned with %s\n", who, id, st.Integration, f.reason, d.Approval.KeyFingerprint)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s approved proposal %d (%s, spec sha256 %s), signed with %s\n", who, id, st.Integration, shortDigest(st.SpecDigest), d.Approval.KeyFingerprint)
	if d.Release == nil {
		fmt.Fprintf(a.stdout, "%d of %d approvals: %d more needed from another approver\n", d.Approvals, d.Required, d.Required-d.Approvals)
		return nil
	}
	fmt.Fprintf(a.stdout, "released: release %d of %s (spec sha256 %s), approved by %s\n", d.Release.ID, d.Release.Integration,
		d.Release.SpecDigest, strings.Join(d.Release.Approvers, ", "))
	for _, s := range d.Superseded {
		fmt.Fprintf(a.stdout, "proposal %d superseded: it was reviewed against the previous release; propose it again\n", s)
	}
	fmt.Fprintf(a.stdout, "verify: spindle release verify %s\n", d.Release.Integration)
	return nil
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func (a *app) approveCmd() *cobra.Command {
	f := &decideFlags{}
	c := &cobra.Command{
		Use:   "approve ID --as NAME",
		Short: "Approve a proposal with your signature; the last approval needed releases it",
		Long: `Signs (ed25519, with NAME's private key) a statement approving proposal ID's
exact spec digest against the current release, at the current time, and
records it after verifying it with NAME's stored public key.

Rules: the author cannot approve; NAME needs the approver or admin role;
each person decides once; a rejected proposal cannot be approved; a change
to auth, scopes, hosts or write methods needs two distinct approvers,
anything else one. The approval that completes a proposal creates the
release in the same transaction and supersedes the integration's other open
proposals (they were reviewed against the release it replaces).

Pass --digest with the sha256 you reviewed to refuse approving anything else.`,
		Example: `  spindle approve 3 --as alice
  spindle approve 3 --as bob --key ~/keys/bob.ed25519 --digest 9f2c…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args, f, governance.DecisionApprove)
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.digest, "digest", "", "the spec sha256 you reviewed; refuse if the proposal's differs")
	return c
}

func (a *app) rejectCmd() *cobra.Command {
	f := &decideFlags{}
	c := &cobra.Command{
		Use:   "reject ID --as NAME --reason TEXT",
		Short: "Reject a proposal with your signature and a reason",
		Long: `Signs and records NAME's rejection of proposal ID with the reason, and
closes it: a rejected proposal can never be approved; fix the spec and
propose it again. NAME needs the approver or admin role (the author may
reject, that is withdraw, their own proposal).`,
		Example: `  spindle reject 3 --as carol --reason "scopes broader than the streams need"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args, f, governance.DecisionReject)
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.reason, "reason", "", "why, for the author (required)")
	return c
}

func (a *app) keysCmd() *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "People's ed25519 signing keys for approvals"}
	var keyDir, custodyMode, identity string
	var replace bool
	create := &cobra.Command{
		Use:   "create NAME [--custody file|server]",
		Short: "Make NAME's signing key pair: private key to a 0600 file (or kept by the server), public key to the store",
		Long: `Generates an ed25519 key pair for the person NAME. The private key is
written to KEY-DIR/NAME.ed25519 (PEM, PKCS #8, mode 0600) and never
overwritten; the public key is stored in the database as NAME's one active
key, which verifies their approvals. NAME needs a role that may create
keys (approver, operator or admin).

--custody server keeps the private key on the server instead, sealed with
the vault's age identity in the database, so NAME can approve from the
dashboard or the HTTP API (` + "`spindle serve`" + `); no file is left behind. The
signature then shows that the server signed for a session of NAME (an API
token NAME logged in with), not that NAME's own device did; keep a key file
(the default) to approve with the CLI instead. See docs/server.md.

--replace retires NAME's current key (kept, so what it signed still
verifies) and makes a new one; move the old file away first or pass
another --key-dir.`,
		Example: `  spindle keys create alice
  spindle keys create bob --key-dir /secure/keys
  spindle keys create carol --custody server`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch custodyMode {
			case "file":
			case "server":
				if keyDir != "" {
					return &exitError{2, fmt.Errorf("--key-dir is for key files; --custody server writes none (see `%s --help`)", cmd.CommandPath())}
				}
				return a.createCustodiedKey(cmd, args[0], identity, replace)
			default:
				return &exitError{2, fmt.Errorf("--custody %q: want file (a key file you hold) or server (kept by the server, for approvals from the dashboard) (see `%s --help`)", custodyMode, cmd.CommandPath())}
			}
			dir := keyDir
			if dir == "" {
				d, err := governance.DefaultKeyDir()
				if err != nil {
					return err
				}
				dir = d
			}
			g, closeDB, err := a.openGov(cmd, false)
			if err != nil {
				return err
			}
			defer closeDB()
			k, path, err := g.CreateKey(cmd.Context(), args[0], dir, replace)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(struct {
					governance.Key
					Path string `json:"private_key_file"`
				}{k, path})
			}
			fmt.Fprintf(a.stdout, "key %s for %s\nprivate key: %s (mode 0600; the only copy — keep it safe)\n", k.Fingerprint, k.Principal, path)
			return nil
		},
	}
	create.Flags().StringVar(&keyDir, "key-dir", "", "directory for the private key (default $SPINDLE_KEY_DIR or ~/.config/spindle/keys)")
	create.Flags().BoolVar(&replace, "replace", false, "retire NAME's current key and make a new one")
	create.Flags().StringVar(&custodyMode, "custody", "file", "who keeps the private key: file (yours, for the CLI) or server (sealed in the database, for approvals from the dashboard and API)")
	create.Flags().StringVar(&identity, "vault-identity", "", "with --custody server: the vault's age identity file (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List stored public keys, active and retired",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			ks, err := g.Keys(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				if ks == nil {
					ks = []governance.Key{}
				}
				return a.govJSON(ks)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PRINCIPAL\tFINGERPRINT\tCREATED\tSTATUS")
			for _, k := range ks {
				status := "active"
				if k.RetiredAt != nil {
					status = "retired " + k.RetiredAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Principal, k.Fingerprint, k.CreatedAt.Format(time.RFC3339), status)
			}
			return tw.Flush()
		},
	}
	c.AddCommand(create, list)
	return c
}

// createCustodiedKey is `keys create NAME --custody server`.
func (a *app) createCustodiedKey(cmd *cobra.Command, name, identity string, replace bool) error {
	st, v, log, err := a.openVault(cmd.Context(), identity, false)
	if err != nil {
		return err
	}
	defer st.Close()
	g, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		return err
	}
	keys, err := custody.New(st.DB(), g, v, log)
	if err != nil {
		return err
	}
	k, err := keys.Create(cmd.Context(), name, replace)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.govJSON(struct {
			governance.Key
			Custody string `json:"custody"`
		}{k, "server"})
	}
	fmt.Fprintf(a.stdout, "key %s for %s\nprivate key: kept by the server, sealed with the vault (approve from the dashboard or POST /api/v1/proposals/ID/approve)\n", k.Fingerprint, k.Principal)
	return nil
}

func (a *app) releaseCmd() *cobra.Command {
	c := &cobra.Command{Use: "release", Short: "Releases: the approved spec digests production may run"}
	var integration string
	list := &cobra.Command{
		Use:   "list",
		Short: "List releases, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			rs, err := g.Releases(cmd.Context(), integration)
			if err != nil {
				return err
			}
			if a.jsonOut {
				if rs == nil {
					rs = []governance.Release{}
				}
				return a.govJSON(rs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "INTEGRATION\tRELEASE\tPROPOSAL\tSPEC SHA256\tAPPROVERS\tREQUIRED\tCREATED")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\n", r.Integration, r.ID, r.ProposalID, shortDigest(r.SpecDigest),
					strings.Join(r.Approvers, ","), r.Required, r.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&integration, "integration", "", "only this integration")
	verify := &cobra.Command{
		Use:   "verify NAME",
		Short: "Check an integration's whole release chain offline; exit 1 on any tampering",
		Long: `Re-checks every release of integration NAME from the database alone: each
spec text hashes to its digest; each release follows the one before; each
approval's signature verifies with its approver's stored public key over
the canonical statement (proposal, integration, digest, previous release's
digest, approver, decision, time); approvers are distinct people holding a
key at the time; the author approved nothing; and the number of approvals
is what the risk, recomputed from the spec texts, requires. Exit 1 naming
every problem found.

The signatures are only as trustworthy as the stored public keys: compare
the printed key fingerprints with the ones people hold (` + "`spindle keys list`" + `).`,
		Example: `  spindle release verify acme-cloud
  spindle release verify acme-cloud --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			v, err := g.Verify(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				if err := a.govJSON(v); err != nil {
					return err
				}
			} else {
				printVerification(a.stdout, v)
			}
			if !v.OK {
				n := len(v.Problems)
				for _, r := range v.Releases {
					n += len(r.Problems)
				}
				return fmt.Errorf("the release chain of %s does not verify: %d problem(s); %s", v.Integration, n, firstChainProblem(v))
			}
			return nil
		},
	}
	c.AddCommand(list, verify)
	return c
}

func firstChainProblem(v *governance.Verification) string {
	if len(v.Problems) > 0 {
		return v.Problems[0]
	}
	for _, r := range v.Releases {
		if len(r.Problems) > 0 {
			return fmt.Sprintf("release %d: %s", r.ID, r.Problems[0])
		}
	}
	return ""
}

func printVerification(w io.Writer, v *governance.Verification) {
	for _, r := range v.Releases {
		status := "ok"
		if len(r.Problems) > 0 {
			status = "FAILED"
		}
		fmt.Fprintf(w, "release %d of %s: %s\n", r.ID, v.Integration, status)
		fmt.Fprintf(w, "  proposal %d by %s, spec sha256 %s\n", r.Proposal, r.Author, r.SpecDigest)
		fmt.Fprintf(w, "  approved by %s (%d required)\n", strings.Join(r.Approvers, ", "), r.Required)
		for i, k := range r.Keys {
			fmt.Fprintf(w, "    %s signed with %s\n", r.Approvers[i], k)
		}
		for _, it := range r.Risk {
			fmt.Fprintf(w, "  risk: %s\n", it)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  PROBLEM: %s\n", p)
		}
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
	if v.OK {
		fmt.Fprintf(w, "%s: %d release(s) verified\n", v.Integration, len(v.Releases))
	}
}

func (a *app) roleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "role",
		Short: "Grant and revoke roles: admin, approver, operator, viewer, agent",
		Long: `Roles decide who may do what, enforced in the governance layer for every
caller (` + "`spindle role actions`" + ` prints the matrix). The first admin is granted
without --as while no admin exists (recorded in the audit log as the
bootstrap); after that only an admin grants or revokes.

Agents ("agent:<brain>") hold the agent role by their name: they may
propose and read, and never approve, release, sync production or touch
credentials.`,
		Example: `  spindle role grant root admin
  spindle role grant alice approver --as root
  spindle role revoke alice approver --as root
  spindle role list`,
	}
	var as string
	parseRole := func(cmd *cobra.Command, s string) (governance.Role, error) {
		r := governance.Role(s)
		if !r.Valid() {
			var names []string
			for _, x := range governance.Roles() {
				names = append(names, string(x))
			}
			return "", &exitError{2, fmt.Errorf("unknown role %q: want one of %s (see `%s --help`)", s, strings.Join(names, ", "), cmd.CommandPath())}
		}
		return r, nil
	}
	grant := &cobra.Command{
		Use:   "grant NAME ROLE",
		Short: "Give NAME a role (the first admin needs no --as)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseRole(cmd, args[1])
			if err != nil {
				return err
			}
			g, closeDB, err := a.openGov(cmd, false)
			if err != nil {
				return err
			}
			defer closeDB()
			boot, err := g.Grant(cmd.Context(), strings.TrimSpace(as), args[0], r)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(map[string]any{"name": args[0], "role": r, "bootstrap": boot})
			}
			if boot {
				fmt.Fprintf(a.stdout, "%s is the first admin (bootstrap, recorded in the audit log); from now on only an admin grants roles\n", args[0])
			} else {
				fmt.Fprintf(a.stdout, "granted %s to %s\n", r, args[0])
			}
			return nil
		},
	}
	grant.Flags().StringVar(&as, "as", "", "the admin granting it")
	revoke := &cobra.Command{
		Use:   "revoke NAME ROLE --as ADMIN",
		Short: "Take a role from NAME",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseRole(cmd, args[1])
			if err != nil {
				return err
			}
			by, err := govNeedAs(cmd, as, "the admin revoking it")
			if err != nil {
				return err
			}
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			if err := g.Revoke(cmd.Context(), by, args[0], r); err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(map[string]any{"name": args[0], "role": r, "revoked": true})
			}
			fmt.Fprintf(a.stdout, "revoked %s from %s\n", r, args[0])
			return nil
		},
	}
	revoke.Flags().StringVar(&as, "as", "", "the admin revoking it (required)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List principals and their roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, closeDB, err := a.openGov(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			ps, err := g.Principals(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				if ps == nil {
					ps = []governance.Principal{}
				}
				return a.govJSON(ps)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tROLES")
			for _, p := range ps {
				var rs []string
				for _, r := range p.Roles {
					rs = append(rs, string(r))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Kind, strings.Join(rs, ","))
			}
			return tw.Flush()
		},
	}
	actions := &cobra.Command{
		Use:   "actions",
		Short: "Print which role may do which action",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.jsonOut {
				m := map[governance.Role][]governance.Action{}
				for _, r := range governance.Roles() {
					m[r] = []governance.Action{}
					for _, x := range governance.Actions() {
						if governance.Can(r, x) {
							m[r] = append(m[r], x)
						}
					}
				}
				return a.govJSON(m)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprint(tw, "ACTION")
			for _, r := range governance.Roles() {
				fmt.Fprintf(tw, "\t%s", strings.ToUpper(string(r)))
			}
			fmt.Fprintln(tw)
			for _, x := range governance.Actions() {
				fmt.Fprint(tw, x)
				for _, r := range governance.Roles() {
					mark := "-"
					if governance.Can(r, x) {
						mark = "yes"
					}
					fmt.Fprintf(tw, "\t%s", mark)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	c.AddCommand(grant, revoke, list, actions)
	return c
}

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store/sqlite"
	"github.com/spindlehq/spindle/internal/vault"
)

type syncFlags struct {
	as       string
	baseURL  string
	config   []string
	identity string
	verbose  bool
	bounds   contract.Bounds
}

func (a *app) syncCmd() *cobra.Command {
	var f syncFlags
	c := &cobra.Command{
		Use:   "sync NAME --as PERSON",
		Short: "Run an integration's released spec against the vendor, with its vaulted credential (production)",
		Long: `Runs the current release of integration NAME — the exact spec digest its
approvers signed — against the vendor, authenticating with the vaulted
credential bound to that integration and host, and stores the records in the
inventory. Nothing else runs in production: a spec without a release, a
release chain that does not verify, an integration whose vendor terms no one
has accepted, or a credential bound elsewhere is refused with what to do.
Use spindle run to try a spec in development.

--base-url points the run at a stand-in for the vendor (a sandbox); the
credential is only released if a person bound it to that host. The run and
its outcome are recorded in the audit log (boundary: production).

After the run, the live contract checks judge it (internal/contract): auth
and HTTP failures, mapping errors, each stream's record count against the
median of its last complete runs, and staleness. The health they conclude
is recorded (shown by spindle integration list) and audited
(contract.check).

Exit status: 0 when every stream completed and the contract holds, 3 when
the run finished degraded (the inventory kept what it knew) or a contract
check failed (a stream that silently shrank fails loudly), 1 on a refusal
or error.`,
		Example: `  spindle sync acme-cloud --as olivia
  spindle sync okta --as olivia --config yourOktaDomain=acme.okta.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.syncRun(cmd.Context(), args[0], f)
		},
	}
	c.Flags().StringVar(&f.as, "as", "", "the person running the sync (needs the operator or admin role); required")
	c.Flags().StringVar(&f.baseURL, "base-url", "", "run against a stand-in for the vendor at this URL (the credential must be bound to its host)")
	c.Flags().StringArrayVar(&f.config, "config", nil, "a connection.config input as NAME=VALUE (repeatable)")
	c.Flags().StringVar(&f.identity, "vault-identity", "", "age identity file of the vault (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log each request and retry (credentials redacted)")
	c.Flags().Float64Var(&f.bounds.MaxDrop, "max-drop", contract.DefaultMaxDrop, "contract: fail a stream that lost more than this fraction of its records against the median of its last complete runs")
	c.Flags().Float64Var(&f.bounds.MaxGrowth, "max-growth", contract.DefaultMaxGrowth, "contract: warn when a stream grew more than this many times its median")
	c.Flags().IntVar(&f.bounds.MinHistory, "min-history", contract.DefaultMinHistory, "contract: previous complete runs a stream needs before its record count is judged")
	return c
}

func (a *app) syncRun(ctx context.Context, name string, f syncFlags) error {
	if strings.TrimSpace(f.as) == "" {
		return &exitError{2, errors.New("--as is required: a production sync is run by a person with the operator or admin role")}
	}
	cfg, err := parseConfig(f.config)
	if err != nil {
		return &exitError{2, err}
	}
	st, v, log, err := a.openVault(ctx, f.identity, true)
	if err != nil {
		return err
	}
	defer st.Close()
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		return err
	}
	if err := gov.Authorize(ctx, f.as, governance.ActionSyncProduction); err != nil {
		return err
	}
	life, err := lifecycle.New(st.DB(), lifecycle.Options{Audit: log, Vault: v, Gov: gov, Inventory: st})
	if err != nil {
		return err
	}
	// Released, verified, owned and not offboarded.
	if err := life.Ready(ctx, name); err != nil {
		return err
	}
	rel, err := gov.ReleasedSpec(ctx, name)
	if err != nil {
		return err
	}
	if _, ok, err := v.TermsAccepted(ctx, name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("no one has accepted %s's terms for %s: a person does, with `spindle terms accept %s --as PERSON`", "the vendor", name, name)
	}
	doc, err := integration.Load(fmt.Sprintf("%s (release %d)", name, rel.Release.ID), rel.Spec)
	if err != nil {
		return fmt.Errorf("the released spec of %s does not load with this build: %w", name, err)
	}

	base := f.baseURL
	if base == "" {
		if base, err = expandBase(doc.Spec, cfg); err != nil {
			return err
		}
	}
	actor := audit.Actor{Kind: audit.ActorPerson, Name: f.as}
	red := runtime.NewRedactor()
	secrets := v.Resolver(vault.Binding{Integration: name, Host: base, TokenHost: tokenHost(doc.Spec, base), Actor: actor, Redactor: red})
	// The host as the vault binds and compares it.
	host, err := vault.NormalizeHost(base)
	if err != nil {
		return fmt.Errorf("base URL %s: %w", base, err)
	}
	details := map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest, "host": host}
	if f.baseURL != "" {
		details["stand_in"] = true
	}
	if _, err := log.Append(ctx, audit.Event{Actor: actor, Action: "sync.start", Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: details}); err != nil {
		return err
	}
	rep, runErr := a.runSpec(ctx, doc, runtime.Options{BaseURL: f.baseURL, Config: cfg, Secrets: secrets, Redactor: red}, runFlags{verbose: f.verbose})
	outcome := map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest}
	switch {
	case rep != nil:
		outcome["status"], outcome["records"] = rep.Status, rep.Records
	default:
		outcome["status"], outcome["error"] = "failed", red.String(runErr.Error())
	}
	if _, err := log.Append(ctx, audit.Event{Actor: actor, Action: "sync.finish", Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: outcome}); err != nil && runErr == nil {
		return err
	}
	if rep == nil {
		return runErr
	}
	res, err := a.checkContract(ctx, st, life, log, actor, name, doc.Spec, rep, f.bounds)
	switch {
	case runErr != nil:
		return runErr
	case err != nil:
		return err
	case res.Health == contract.Failing:
		return &exitError{3, fmt.Errorf("contract failing (%s): the run finished, but the inventory it left cannot be trusted; see the checks above", strings.Join(res.Failing(), ", "))}
	}
	return nil
}

// checkContract runs the live contract checks on a finished sync, records
// the result with its audit entry (one transaction) and prints a summary.
func (a *app) checkContract(ctx context.Context, st *sqlite.Store, life *lifecycle.Lifecycle, log *audit.Log, actor audit.Actor, name string, sp *integration.Spec, rep *runtime.Report, b contract.Bounds) (contract.Result, error) {
	runs, err := life.ProductionRuns(ctx, name, 50)
	if err != nil {
		return contract.Result{}, err
	}
	var runID int64
	if len(runs) > 0 && runs[0].FinishedAt.Equal(rep.FinishedAt) {
		runID, runs = runs[0].ID, runs[1:]
	}
	res := contract.Check(ctx, contract.Input{Integration: name, RunID: runID, Report: rep, Spec: sp, History: runs, Bounds: b})

	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := contract.Record(ctx, tx, res); err != nil {
		return res, err
	}
	details := map[string]any{"health": string(res.Health), "run_id": runID, "failing": res.Failing(), "warning": res.Warning()}
	if _, err := log.AppendTx(ctx, tx, audit.Event{Actor: actor, Action: "contract.check", Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: details}); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("recording the contract check of %s: %w", name, err)
	}

	w := a.stdout
	if a.jsonOut {
		w = a.stderr // stdout holds the report's JSON
	}
	fmt.Fprintln(w, res.Summary())
	for _, c := range res.Checks {
		if c.Status == contract.Fail || c.Status == contract.Warn {
			fmt.Fprintf(w, "  %s %s: %s\n", c.Status, c.ID, c.Message)
		}
	}
	a.notifyAlerts(ctx, st, log, actor, res) // issue 6: fail loudly; a delivery failure never changes the exit code
	return res, nil
}

// expandBase is the spec's base URL with its {config.x} inputs filled: the
// host the credential must be bound to.
func expandBase(sp *integration.Spec, cfg map[string]string) (string, error) {
	return integration.Expand(sp.Connection.BaseURL, func(ref string) (string, error) {
		name := strings.TrimPrefix(ref, integration.VarConfig+".")
		if v, ok := cfg[name]; ok {
			return v, nil
		}
		if cv, ok := sp.Connection.Config[name]; ok && cv.Default != "" {
			return cv.Default, nil
		}
		return "", fmt.Errorf("connection.base_url needs config %s: pass --config %s=VALUE", name, name)
	}, func(s string) string { return s })
}

// tokenHost is where an oauth2 token request goes: an absolute token_url,
// else the base URL.
func tokenHost(sp *integration.Spec, base string) string {
	if sp.Connection.Auth.Type != integration.AuthOAuth2ClientCredentials {
		return ""
	}
	if tu := sp.Connection.Auth.TokenURL; strings.Contains(tu, "://") {
		return tu
	}
	return base
}

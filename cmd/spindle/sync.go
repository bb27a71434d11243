package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store"
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
	env, err := productionEnv(st.DB(), st, v, log)
	if err != nil {
		return err
	}
	env.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})) // Sync applies --verbose
	env.Progress = a.stderr
	res, err := env.Sync(ctx, production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: f.as},
		BaseURL: f.baseURL, Config: cfg, Bounds: f.bounds, Verbose: f.verbose})
	if res != nil {
		a.printSync(res)
	}
	if errors.Is(err, production.ErrDegraded) || errors.Is(err, production.ErrContractFailing) {
		return &exitError{3, err}
	}
	return err
}

// prodInventory is an opened store (SQLite or PostgreSQL) as the production
// pipeline uses it.
type prodInventory interface {
	store.Store
	lifecycle.Inventory
}

// productionEnv wires the production pipeline over an opened store: db is
// its control-plane database, v the vault over it.
func productionEnv(db *sql.DB, inv prodInventory, v *vault.Vault, log *audit.Log) (*production.Env, error) {
	gov, err := governance.New(db, governance.Options{Audit: log})
	if err != nil {
		return nil, err
	}
	life, err := lifecycle.New(db, lifecycle.Options{Audit: log, Vault: v, Gov: gov, Inventory: inv})
	if err != nil {
		return nil, err
	}
	return &production.Env{DB: db, Inventory: inv, Vault: v, Gov: gov, Life: life, Audit: log, Alerts: alert.New(db, alert.Options{Vault: v})}, nil
}

// printSync reports a sync: the run's streams, the contract checks that
// judged it, and the alert they raised (a delivery failure is reported on
// stderr; it never changes the exit status).
func (a *app) printSync(res *production.SyncResult) {
	if res.Report != nil {
		a.printReport(res.Report, res.Redactor)
	}
	w := a.stdout
	if a.jsonOut {
		w = a.stderr // stdout holds the report's JSON
	}
	if c := res.Contract; c != nil {
		fmt.Fprintln(w, c.Summary())
		for _, f := range c.Checks {
			if f.Status == contract.Fail || f.Status == contract.Warn {
				fmt.Fprintf(w, "  %s %s: %s\n", f.Status, f.ID, f.Message)
			}
		}
		if res.AlertAuditErr != nil {
			fmt.Fprintf(a.stderr, "spindle: %v\n", res.AlertAuditErr)
		}
		switch {
		case res.AlertErr != nil:
			fmt.Fprintf(a.stderr, "spindle: alerting %s: %v\n", c.Integration, res.AlertErr)
		case len(res.Alert.Deliveries) > 0:
			fmt.Fprintf(w, "alert %s: sent to %d webhook(s)\n", res.Alert.Kind, len(res.Alert.Deliveries))
		}
	}
}

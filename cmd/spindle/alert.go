package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/vault"
)

// alertCmd manages the webhooks that contract checks alert (issue 6):
// `alert add`, `alert list`, `alert remove`, `alert incidents`. A webhook
// URL can carry a token, so it is handled as a credential: adding or
// removing one needs the credential.set action (operator or admin), it is
// stored sealed with the vault's identity, and it is only ever shown as
// scheme://host/….
func (a *app) alertCmd() *cobra.Command {
	var identity string
	c := &cobra.Command{
		Use:   "alert",
		Short: "Webhooks alerted when an integration's contract checks fail or degrade (JSON or Slack)",
		Long: `A failing contract check after a sync opens an incident — the integration and
its set of failing checks — and posts it once to every webhook configured
here; the same failure again sends nothing new, and the integration's
return to healthy sends one "resolved" message. Degraded and stale health
open warning incidents the same way, posted only to webhooks added with
--min-health degraded. Deliveries are retried (network errors, 5xx, 429)
and a target that could not be reached is tried again at the next check.

Webhook URLs are secrets: they are stored encrypted with the vault's age
identity (the same key as credentials: --vault-identity FILE,
$SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside
--db) and shown as scheme://host/… only. A URL stored in clear by an older
spindle is encrypted by the next alert add or remove, or the next alert
sent.`,
	}
	c.PersistentFlags().StringVar(&identity, "vault-identity", "", "age identity file of the vault (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	c.AddCommand(a.alertAddCmd(&identity), a.alertListCmd(), a.alertRemoveCmd(&identity), a.alertIncidentsCmd())
	return c
}

// vaultIdentity finds the vault's identity for every command that opens
// the vault: --vault-identity, then $SPINDLE_VAULT_IDENTITY (the key), then
// $SPINDLE_VAULT_IDENTITY_FILE, then vault.key beside the database.
func (a *app) vaultIdentity(identityFile string) vault.Options {
	var o vault.Options
	switch {
	case identityFile != "":
		o.IdentityFile = identityFile
	case strings.TrimSpace(os.Getenv(vault.EnvIdentity)) != "":
		o.IdentityValue = os.Getenv(vault.EnvIdentity)
	case strings.TrimSpace(os.Getenv(vault.EnvIdentityFile)) != "":
		o.IdentityFile = strings.TrimSpace(os.Getenv(vault.EnvIdentityFile))
	default:
		o.IdentityFile = vault.DefaultIdentityFile(a.dbPath)
	}
	return o
}

// newNotifier is the notifier on db, sealing and opening URLs with the
// vault found by identityFile ("" for the defaults).
func (a *app) newNotifier(db *sql.DB, identityFile string) (*alert.Notifier, error) {
	v, err := vault.Open(db, a.vaultIdentity(identityFile))
	if err != nil {
		return nil, err
	}
	return alert.New(db, alert.Options{Vault: v}), nil
}

// openAlert opens the database with its audit log, governance and
// notifier. The caller closes the store.
func (a *app) openAlert(ctx context.Context, identityFile string, mustExist bool) (database, *governance.Service, *audit.Log, *alert.Notifier, error) {
	st, err := a.openDB(ctx, mustExist, "no database at %s: add a webhook with `spindle alert add` first, or pass --db")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	log := audit.New(st.DB(), audit.Options{})
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, err
	}
	n, err := a.newNotifier(st.DB(), identityFile)
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, err
	}
	return st, gov, log, n, nil
}

func (a *app) alertAddCmd(identity *string) *cobra.Command {
	var as, rawURL, format, minHealth string
	c := &cobra.Command{
		Use:   "add NAME --url URL --format json|slack [--min-health failing|degraded] --as PERSON",
		Short: "Add a webhook (https; a Slack incoming-webhook URL with --format slack)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := govNeedAs(cmd, as, "a webhook URL is a secret: the person adding it is recorded")
			if err != nil {
				return err
			}
			if strings.TrimSpace(rawURL) == "" {
				return &exitError{2, fmt.Errorf("pass --url URL (see `%s --help`)", cmd.CommandPath())}
			}
			f := alert.Format(format)
			if !f.Valid() {
				return &exitError{2, fmt.Errorf("--format %q: use json or slack (see `%s --help`)", format, cmd.CommandPath())}
			}
			mh := contract.Health(minHealth)
			if !alert.ValidMinHealth(mh) {
				return &exitError{2, fmt.Errorf("--min-health %q: use failing (alert failing health only) or degraded (also degraded and stale health) (see `%s --help`)", minHealth, cmd.CommandPath())}
			}
			if err := alert.CheckURL(rawURL, false); err != nil {
				return &exitError{2, err}
			}
			ctx := cmd.Context()
			st, gov, log, n, err := a.openAlert(ctx, *identity, false)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := gov.Authorize(ctx, who, governance.ActionCredentialSet); err != nil {
				return err
			}
			sealed, err := n.SealLegacy(ctx)
			if err != nil {
				return err
			}
			t, err := n.AddTarget(ctx, alert.Target{Name: args[0], URL: rawURL, Format: f, MinHealth: mh, CreatedBy: who})
			if err != nil {
				return err
			}
			details := map[string]any{"format": string(t.Format), "endpoint": t.Redacted(), "min_health": string(t.MinHealth), "recipient": t.Recipient}
			if sealed > 0 {
				details["sealed_legacy"] = sealed
			}
			if _, err := log.Append(ctx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: who}, Action: "alert.add", Object: "alert:" + t.Name,
				Boundary: audit.BoundaryNone, Details: details}); err != nil {
				return err
			}
			a.alertSealedNote(sealed)
			fmt.Fprintf(a.stdout, "added webhook %s (%s, %s, alerts %s)\n", t.Name, t.Format, t.Redacted(), alertScope(t.MinHealth))
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person adding the webhook (operator or admin)")
	c.Flags().StringVar(&rawURL, "url", "", "the webhook URL (a secret: it is stored encrypted and never printed)")
	c.Flags().StringVar(&format, "format", string(alert.FormatJSON), "payload format: json or slack")
	c.Flags().StringVar(&minHealth, "min-health", string(contract.Failing), "the least severe health alerted: failing, or degraded (also degraded and stale, as warnings)")
	return c
}

// alertScope says in words what a target of min health is told.
func alertScope(min contract.Health) string {
	if min == contract.Degraded {
		return "failing, degraded and stale"
	}
	return "failing only"
}

// alertSealedNote tells on stderr that URLs stored in clear were sealed.
func (a *app) alertSealedNote(n int) {
	if n > 0 {
		fmt.Fprintf(a.stderr, "encrypted %d webhook URL(s) stored in clear by an older spindle\n", n)
	}
}

// alertTarget is a target as listed: its URL redacted.
type alertTarget struct {
	Name      string    `json:"name"`
	Format    string    `json:"format"`
	MinHealth string    `json:"min_health"`
	Endpoint  string    `json:"endpoint"`
	Encrypted bool      `json:"encrypted"` // false: stored in clear by an older spindle, until its next use
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func (a *app) alertListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [--json]",
		Short: "List the webhooks (URLs shown as scheme://host/… only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := []alertTarget{}
			if a.haveDB() {
				st, err := a.openDB(ctx, true, "")
				if err != nil {
					return err
				}
				defer st.Close()
				// Listing reads no URL: no vault needed.
				ts, err := alert.New(st.DB(), alert.Options{}).Targets(ctx)
				if err != nil {
					return err
				}
				for _, t := range ts {
					out = append(out, alertTarget{Name: t.Name, Format: string(t.Format), MinHealth: string(t.MinHealth), Endpoint: t.Redacted(),
						Encrypted: !t.Legacy, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy})
				}
			}
			if a.jsonOut {
				return a.govJSON(out)
			}
			if len(out) == 0 {
				fmt.Fprintln(a.stdout, "no webhooks: add one with `spindle alert add NAME --url URL --format json|slack --as PERSON`")
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tFORMAT\tMIN HEALTH\tENDPOINT\tADDED\tBY")
			legacy := 0
			for _, t := range out {
				ep := t.Endpoint
				if !t.Encrypted {
					ep += " (stored in clear)"
					legacy++
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Format, t.MinHealth, ep, t.CreatedAt.Format(time.RFC3339), t.CreatedBy)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if legacy > 0 {
				fmt.Fprintf(a.stdout, "%d URL(s) stored in clear by an older spindle: the next `spindle alert add` or `remove`, or the next alert sent, encrypts them\n", legacy)
			}
			return nil
		},
	}
}

func (a *app) alertRemoveCmd(identity *string) *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "remove NAME --as PERSON",
		Short: "Remove a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := govNeedAs(cmd, as, "removing a webhook silences alerts: the person doing it is recorded")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, gov, log, n, err := a.openAlert(ctx, *identity, true)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := gov.Authorize(ctx, who, governance.ActionCredentialSet); err != nil {
				return err
			}
			t, err := n.RemoveTarget(ctx, args[0])
			if errors.Is(err, alert.ErrNotFound) {
				return fmt.Errorf("no webhook named %s: see `spindle alert list`", args[0])
			}
			if err != nil {
				return err
			}
			details := map[string]any{"format": string(t.Format), "endpoint": t.Redacted(), "min_health": string(t.MinHealth)}
			// Removing needs no key; sealing the others' clear URLs does.
			// Without the key that waits for the next use, said on stderr.
			sealed, serr := n.SealLegacy(ctx)
			if sealed > 0 {
				details["sealed_legacy"] = sealed
			}
			if _, err := log.Append(ctx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: who}, Action: "alert.remove", Object: "alert:" + t.Name,
				Boundary: audit.BoundaryNone, Details: details}); err != nil {
				return err
			}
			a.alertSealedNote(sealed)
			if serr != nil {
				fmt.Fprintf(a.stderr, "spindle: webhook URLs stored in clear are still in clear: %v\n", serr)
			}
			fmt.Fprintf(a.stdout, "removed webhook %s (%s)\n", t.Name, t.Redacted())
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person removing the webhook (operator or admin)")
	return c
}

func (a *app) alertIncidentsCmd() *cobra.Command {
	var openOnly bool
	var integration string
	c := &cobra.Command{
		Use:   "incidents [--open] [--integration NAME] [--json]",
		Short: "List alert incidents: what failed or degraded, when, and whether it is resolved",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			incs := []alert.Incident{}
			if a.haveDB() {
				st, err := a.openDB(ctx, true, "")
				if err != nil {
					return err
				}
				defer st.Close()
				if incs, err = alert.New(st.DB(), alert.Options{}).Incidents(ctx, integration, openOnly); err != nil {
					return err
				}
			}
			if a.jsonOut {
				return a.govJSON(incs)
			}
			if len(incs) == 0 {
				what := "no incidents"
				if openOnly {
					what = "no open incidents"
				}
				fmt.Fprintln(a.stdout, what)
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tINTEGRATION\tSEVERITY\tCHECKS\tOPENED\tRESOLVED\tALERTS")
			for _, inc := range incs {
				resolved := "open"
				if !inc.Open() {
					resolved = inc.ResolvedAt.Format(time.RFC3339) + " (" + inc.Resolution + ")"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", inc.ID, inc.Integration, inc.Severity, strings.Join(inc.Failing, ", "),
					inc.OpenedAt.Format(time.RFC3339), resolved, inc.AlertsSent)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&openOnly, "open", false, "only the unresolved incidents")
	c.Flags().StringVar(&integration, "integration", "", "only this integration's incidents")
	return c
}

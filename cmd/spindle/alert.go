package main

import (
	"context"
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
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// alertCmd manages the webhooks that failing contract checks alert
// (issue 6): `alert add`, `alert list`, `alert remove`. A webhook URL can
// carry a token, so it is handled as a credential: adding or removing one
// needs the credential.set action (operator or admin), and it is only ever
// shown as scheme://host/….
func (a *app) alertCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "alert",
		Short: "Webhooks alerted when an integration's contract checks fail (JSON or Slack)",
		Long: `A failing contract check after a sync opens an incident — the integration and
its set of failing checks — and posts it once to every webhook configured
here; the same failure again sends nothing new, and the integration's
return to healthy sends one "resolved" message. Deliveries are retried
(network errors, 5xx, 429) and a target that could not be reached is tried
again at the next check. Webhook URLs are secrets: they are shown as
scheme://host/… only.`,
	}
	c.AddCommand(a.alertAddCmd(), a.alertListCmd(), a.alertRemoveCmd())
	return c
}

// openAlert opens the database with its audit log, governance and
// notifier. The caller closes the store.
func (a *app) openAlert(ctx context.Context, mustExist bool) (*sqlite.Store, *governance.Service, *audit.Log, *alert.Notifier, error) {
	if mustExist {
		if _, err := os.Stat(a.dbPath); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("no database at %s: add a webhook with `spindle alert add` first, or pass --db", a.dbPath)
		}
	}
	st, err := sqlite.Open(ctx, a.dbPath)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	log := audit.New(st.DB(), audit.Options{})
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, err
	}
	return st, gov, log, alert.New(st.DB(), alert.Options{}), nil
}

func (a *app) alertAddCmd() *cobra.Command {
	var as, rawURL, format string
	c := &cobra.Command{
		Use:   "add NAME --url URL --format json|slack --as PERSON",
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
			if err := alert.CheckURL(rawURL, false); err != nil {
				return &exitError{2, err}
			}
			ctx := cmd.Context()
			st, gov, log, n, err := a.openAlert(ctx, false)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := gov.Authorize(ctx, who, governance.ActionCredentialSet); err != nil {
				return err
			}
			t, err := n.AddTarget(ctx, alert.Target{Name: args[0], URL: rawURL, Format: f, CreatedBy: who})
			if err != nil {
				return err
			}
			if _, err := log.Append(ctx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: who}, Action: "alert.add", Object: "alert:" + t.Name,
				Boundary: audit.BoundaryNone, Details: map[string]any{"format": string(t.Format), "endpoint": t.Redacted()}}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added webhook %s (%s, %s)\n", t.Name, t.Format, t.Redacted())
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person adding the webhook (operator or admin)")
	c.Flags().StringVar(&rawURL, "url", "", "the webhook URL (a secret: it is never printed)")
	c.Flags().StringVar(&format, "format", string(alert.FormatJSON), "payload format: json or slack")
	return c
}

// alertTarget is a target as listed: its URL redacted.
type alertTarget struct {
	Name      string    `json:"name"`
	Format    string    `json:"format"`
	Endpoint  string    `json:"endpoint"`
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
			if _, err := os.Stat(a.dbPath); err == nil {
				st, _, _, n, err := a.openAlert(ctx, true)
				if err != nil {
					return err
				}
				defer st.Close()
				ts, err := n.Targets(ctx)
				if err != nil {
					return err
				}
				for _, t := range ts {
					out = append(out, alertTarget{Name: t.Name, Format: string(t.Format), Endpoint: t.Redacted(), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy})
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
			fmt.Fprintln(w, "NAME\tFORMAT\tENDPOINT\tADDED\tBY")
			for _, t := range out {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Format, t.Endpoint, t.CreatedAt.Format(time.RFC3339), t.CreatedBy)
			}
			return w.Flush()
		},
	}
}

func (a *app) alertRemoveCmd() *cobra.Command {
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
			st, gov, log, n, err := a.openAlert(ctx, true)
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
			if _, err := log.Append(ctx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: who}, Action: "alert.remove", Object: "alert:" + t.Name,
				Boundary: audit.BoundaryNone, Details: map[string]any{"format": string(t.Format), "endpoint": t.Redacted()}}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed webhook %s (%s)\n", t.Name, t.Redacted())
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person removing the webhook (operator or admin)")
	return c
}

// notifyAlerts sends the alerts a recorded contract result calls for and
// audits what was sent (alert.send) or what failed (alert.fail). A failed
// delivery is reported on stderr; it never changes the command's outcome,
// which the health alone decides.
func (a *app) notifyAlerts(ctx context.Context, st *sqlite.Store, log *audit.Log, actor audit.Actor, res contract.Result) {
	out, err := alert.New(st.DB(), alert.Options{}).Notify(ctx, res)
	if out.Kind == alert.KindNone && err == nil {
		return
	}
	action := "alert.send"
	if err != nil {
		action = "alert.fail"
	}
	details := map[string]any{"kind": out.Kind, "health": string(res.Health), "run_id": res.RunID}
	var ids []int64
	for _, inc := range out.Incidents {
		ids = append(ids, inc.ID)
	}
	details["incidents"] = ids
	var ds []map[string]any
	for _, d := range out.Deliveries {
		m := map[string]any{"target": d.Target, "endpoint": d.Endpoint, "attempts": d.Attempts, "status": d.Status}
		if d.Error != "" {
			m["error"] = d.Error
		}
		ds = append(ds, m)
	}
	details["deliveries"] = ds
	if err != nil {
		details["error"] = err.Error()
	}
	if len(ds) > 0 || err != nil {
		if _, aerr := log.Append(ctx, audit.Event{Actor: actor, Action: action, Object: "integration:" + res.Integration, Boundary: audit.BoundaryProduction, Details: details}); aerr != nil {
			fmt.Fprintf(a.stderr, "spindle: audit the alert of %s: %v\n", res.Integration, aerr)
		}
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "spindle: alerting %s: %v\n", res.Integration, err)
		return
	}
	if len(out.Deliveries) > 0 {
		w := a.stdout
		if a.jsonOut {
			w = a.stderr
		}
		fmt.Fprintf(w, "alert %s: sent to %d webhook(s)\n", out.Kind, len(out.Deliveries))
	}
}

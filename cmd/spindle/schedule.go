package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/vault"
)

// scheduleCmd manages the schedules `spindle worker` syncs by.
func (a *app) scheduleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "schedule",
		Short: "How often each integration is synced in production, and on whose authority",
		Long: `A schedule syncs an integration every interval, run by ` + "`spindle worker`" + `: the
scheduler runs the production sync on behalf of the person who set the
schedule (an operator or admin), checks at every run that they still may,
and names them in every audit entry of the run. A schedule whose person
lost the right, or whose integration was offboarded, stops itself — the
integration's health says why and the webhooks are alerted — until a
person sets it again.`,
	}
	c.AddCommand(a.scheduleSetCmd(), a.scheduleListCmd(), a.scheduleRemoveCmd())
	return c
}

func (a *app) scheduleSetCmd() *cobra.Command {
	var as, baseURL string
	var every time.Duration
	var config []string
	var b contract.Bounds
	c := &cobra.Command{
		Use:   "set NAME --every DURATION --as PERSON",
		Short: "Sync integration NAME every DURATION (1m or more), on your authority",
		Long: `Schedules integration NAME, which must be released, owned and not offboarded,
to be synced every DURATION by ` + "`spindle worker`" + `; the first sync runs at
the worker's next tick. Setting it again replaces the schedule and resumes
one that stopped. --as needs the operator or admin role; it is audited
(schedule.set). The contract bounds given here apply to every scheduled
run; staleness is judged against twice the interval unless --stale-after
says otherwise.`,
		Example: `  spindle schedule set acme-cloud --every 6h --as olivia
  spindle schedule set okta --every 24h --config yourOktaDomain=acme.okta.com --as olivia`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := govNeedAs(cmd, as, "a schedule runs production syncs on your authority")
			if err != nil {
				return err
			}
			if every <= 0 {
				return &exitError{2, fmt.Errorf("pass --every DURATION, e.g. --every 6h (see `%s --help`)", cmd.CommandPath())}
			}
			cfg, err := parseConfig(config)
			if err != nil {
				return &exitError{2, err}
			}
			ctx := cmd.Context()
			be, err := a.openBackend(ctx, "", false)
			if err != nil {
				return err
			}
			defer be.Close()
			sc, err := jobs.NewSchedules(be.env, nil).Set(ctx, who, jobs.Schedule{Integration: args[0], Every: every, BaseURL: baseURL, Config: cfg, Bounds: jobs.BoundsOf(b)})
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(sc)
			}
			fmt.Fprintf(a.stdout, "scheduled %s every %s on %s's authority; the next `spindle worker` tick syncs it\n", sc.Integration, sc.Every, sc.SetBy)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person on whose authority the syncs run (operator or admin); required")
	c.Flags().DurationVar(&every, "every", 0, "how often to sync (e.g. 6h; at least 1m); required")
	c.Flags().StringVar(&baseURL, "base-url", "", "run against a stand-in for the vendor at this URL (the credential must be bound to its host)")
	c.Flags().StringArrayVar(&config, "config", nil, "a connection.config input as NAME=VALUE (repeatable)")
	c.Flags().Float64Var(&b.MaxDrop, "max-drop", 0, "contract: fail a stream that lost more than this fraction of its records (default 0.5)")
	c.Flags().Float64Var(&b.MaxGrowth, "max-growth", 0, "contract: warn when a stream grew more than this many times its median (default 10)")
	c.Flags().IntVar(&b.MinHistory, "min-history", 0, "contract: previous complete runs needed before counts are judged (default 2)")
	c.Flags().DurationVar(&b.StaleAfter, "stale-after", 0, "contract: stale when no sync succeeded for this long (default twice --every)")
	return c
}

// scheduleRow is a schedule as listed.
type scheduleRow struct {
	Integration string            `json:"integration"`
	Every       string            `json:"every"`
	SetBy       string            `json:"set_by"`
	Host        string            `json:"host,omitempty"`
	Config      map[string]string `json:"config,omitempty"`
	Bounds      jobs.Bounds       `json:"bounds"`
	CreatedAt   time.Time         `json:"created_at"`
	NextRunAt   time.Time         `json:"next_run_at"`
	Status      string            `json:"status"` // active or suspended
	SuspendedAt *time.Time        `json:"suspended_at,omitempty"`
	Reason      string            `json:"suspended_reason,omitempty"`
}

func (a *app) scheduleListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [--json]",
		Short: "List the schedules: interval, who set them, next run, and whether they stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rows := []scheduleRow{}
			if a.haveDB() {
				be, err := a.openBackend(ctx, "", true)
				if err != nil {
					return err
				}
				defer be.Close()
				scs, err := jobs.NewSchedules(be.env, nil).List(ctx)
				if err != nil {
					return err
				}
				for _, sc := range scs {
					r := scheduleRow{Integration: sc.Integration, Every: sc.Every.String(), SetBy: sc.SetBy, Config: sc.Config, Bounds: sc.Bounds,
						CreatedAt: sc.CreatedAt, NextRunAt: sc.NextRunAt, Status: "active", SuspendedAt: sc.SuspendedAt, Reason: sc.SuspendedReason}
					if sc.BaseURL != "" {
						r.Host, _ = vault.NormalizeHost(sc.BaseURL)
					}
					if sc.SuspendedAt != nil {
						r.Status = "suspended"
					}
					rows = append(rows, r)
				}
			}
			if a.jsonOut {
				return a.govJSON(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(a.stdout, "no schedules: add one with `spindle schedule set NAME --every 6h --as PERSON`")
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INTEGRATION\tEVERY\tSET BY\tNEXT RUN\tSTATUS")
			for _, r := range rows {
				status := r.Status
				if r.SuspendedAt != nil {
					status = "suspended " + r.SuspendedAt.Format(time.RFC3339) + ": " + oneLineErr(r.Reason)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Integration, r.Every, r.SetBy, r.NextRunAt.Format(time.RFC3339), status)
			}
			return w.Flush()
		},
	}
}

func (a *app) scheduleRemoveCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "remove NAME --as PERSON",
		Short: "Stop syncing integration NAME on a schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := govNeedAs(cmd, as, "removing a schedule stops production syncs: the person doing it is recorded")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			be, err := a.openBackend(ctx, "", true)
			if err != nil {
				return err
			}
			defer be.Close()
			sc, err := jobs.NewSchedules(be.env, nil).Remove(ctx, who, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed the schedule of %s (every %s, set by %s)\n", sc.Integration, sc.Every, sc.SetBy)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person removing the schedule (operator or admin); required")
	return c
}

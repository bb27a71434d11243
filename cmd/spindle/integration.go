package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/lifecycle"
)

// integrationCmd is the lifecycle: `integration list` and `integration
// offboard`.
func (a *app) integrationCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "integration",
		Short: "Owners, review cadence, credentials, last sync and health of every integration; offboard one",
		Long: `Every integration has an owner and a review cadence, taken from its current
release's metadata.owner and metadata.review_every (default 90d); approving a
release is a review. Production sync refuses an integration without a release,
without an owner, or offboarded.

Health is judged from its last sync run and the contract checks recorded after it: failing (the run failed), stale (it
finished more than 48h ago), degraded (partial), healthy; or never-synced, or
offboarded.`,
	}
	c.AddCommand(a.integrationListCmd(), a.integrationOffboardCmd())
	return c
}

// openLifecycle opens the database at --db with the vault, governance and
// lifecycle over it. Neither command decrypts a secret, so the vault's
// identity is never read. A missing database is an error: listing or
// offboarding must not create one.
func (a *app) openLifecycle(ctx context.Context) (database, *lifecycle.Lifecycle, error) {
	if !a.haveDB() {
		return nil, nil, fmt.Errorf("no database at %s: nothing was proposed, released or credentialed there; pass --db (or set SPINDLE_DB) to the database your integrations are in", a.dbPath)
	}
	st, v, log, err := a.openVault(ctx, "", true)
	if err != nil {
		return nil, nil, err
	}
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	l, err := lifecycle.New(st.DB(), lifecycle.Options{Audit: log, Vault: v, Gov: gov, Inventory: st})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, l, nil
}

func (a *app) integrationListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List integrations: owner, health, last sync, review due, credential rotate-by; overdue items flagged",
		Long: `One row per integration that has a release, a proposal, a credential or a
lifecycle record. Overdue reviews and rotations, a missing owner and
unhealthy syncs are flagged with "!" in the table and listed after it, each
with what to do. --json prints every field, including each problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, l, err := a.openLifecycle(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ss, err := l.List(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(ss)
			}
			if len(ss) == 0 {
				fmt.Fprintln(a.stdout, "no integrations: build one (`spindle build DOC`) and propose it (`spindle propose DIR`)")
				return nil
			}
			return printIntegrations(a.stdout, a.stderr, ss)
		},
	}
}

// printIntegrations is the table, then what needs attention.
func printIntegrations(out, errOut io.Writer, ss []lifecycle.Summary) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOWNER\tHEALTH\tLAST SYNC\tREVIEW DUE\tCREDENTIAL (ROTATE BY)")
	attention := 0
	for _, s := range ss {
		if len(s.Problems) > 0 {
			attention++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, integOwner(s), integHealth(s), integLastSync(s), integReview(s), integCredential(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if attention > 0 {
		fmt.Fprintln(out, "\nneeds attention:")
		for _, s := range ss {
			for _, p := range s.Problems {
				fmt.Fprintf(out, "  %s: %s\n", s.Name, p)
			}
		}
	}
	fmt.Fprintf(errOut, "%s, %d needing attention\n", plural(len(ss), "integration"), attention)
	return nil
}

func integOwner(s lifecycle.Summary) string {
	switch {
	case s.Release == nil && s.Owner == "":
		return "-" // nothing released names one yet
	case !s.HasOwner && s.Owner == "":
		return "none !"
	case !s.HasOwner:
		return s.Owner + " !"
	}
	return s.Owner
}

func integHealth(s lifecycle.Summary) string {
	switch s.Health {
	case lifecycle.Offboarded:
		if s.Offboarded.Purged() {
			return "offboarded (purged)"
		}
		return "offboarded"
	case lifecycle.Failing, lifecycle.Stale, lifecycle.Degraded:
		return string(s.Health) + " !"
	}
	return string(s.Health)
}

func integLastSync(s lifecycle.Summary) string {
	if s.LastSync == nil {
		return "never"
	}
	return s.LastSync.FinishedAt.UTC().Format("2006-01-02 15:04") + " " + s.LastSync.Status
}

func integReview(s lifecycle.Summary) string {
	if s.ReviewDue == nil {
		return "-"
	}
	d := s.ReviewDue.UTC().Format("2006-01-02")
	if s.ReviewOverdue {
		return d + " overdue !"
	}
	return d
}

// integCredential is the live credential due first; "revoked" when all
// are, "none" when there is none.
func integCredential(s lifecycle.Summary) string {
	var first *lifecycle.Credential
	live := 0
	for i, c := range s.Credentials {
		if c.RevokedAt != nil {
			continue
		}
		live++
		if first == nil || c.RotateBy.Before(first.RotateBy) {
			first = &s.Credentials[i]
		}
	}
	switch {
	case first == nil && len(s.Credentials) > 0:
		return "revoked"
	case first == nil:
		return "none"
	}
	out := first.Name + " (" + first.RotateBy.UTC().Format("2006-01-02")
	if first.Overdue {
		out += " overdue !"
	}
	out += ")"
	if live > 1 {
		out += fmt.Sprintf(" +%d", live-1)
	}
	return out
}

func (a *app) integrationOffboardCmd() *cobra.Command {
	var as string
	var purge bool
	c := &cobra.Command{
		Use:   "offboard NAME --as PERSON [--purge]",
		Short: "Stop an integration for good: revoke its credentials, keep or purge its inventory; audited",
		Long: `Offboards integration NAME, as one transaction recorded in the audit log:
it is marked offboarded, so production sync refuses it; every credential bound
to it is revoked (its secret destroyed); and with --purge its inventory — the
entities it found and their relationships — is deleted. Without --purge the
inventory stays, shown as from an offboarded integration; run the command
again with --purge to delete it later. Its sync history is kept either way.

Needs a person with the operator or admin role. It does not revoke the
credentials at the vendor: do that there too. A release approved after the
offboarding brings the integration back (then provision a credential again).`,
		Example: `  spindle integration offboard acme-cloud --as olivia
  spindle integration offboard acme-cloud --as olivia --purge`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := credActor(cmd, as)
			if err != nil {
				return err
			}
			st, l, err := a.openLifecycle(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := l.Offboard(cmd.Context(), actor.Name, args[0], purge)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(res)
			}
			printOffboarded(a.stdout, res)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the person offboarding it (operator or admin; required; audited)")
	c.Flags().BoolVar(&purge, "purge", false, "also delete its inventory (entities and their relationships)")
	return c
}

func printOffboarded(w io.Writer, r *lifecycle.OffboardResult) {
	if r.PurgeOnly {
		fmt.Fprintf(w, "%s (offboarded %s by %s): inventory purged, %s and their relationships deleted\n",
			r.Name, r.At.Format(time.RFC3339), r.By, integEntities(r.EntitiesPurged))
	} else {
		fmt.Fprintf(w, "%s offboarded by %s at %s: production sync refuses it from now on\n", r.Name, r.By, r.At.Format(time.RFC3339))
		if r.Purged {
			fmt.Fprintf(w, "inventory purged: %s and their relationships deleted\n", integEntities(r.EntitiesPurged))
		} else {
			fmt.Fprintf(w, "inventory kept: its entities stay, from an offboarded integration (delete them with `spindle integration offboard %s --purge --as PERSON`)\n", r.Name)
		}
	}
	if len(r.Revoked) > 0 {
		fmt.Fprintf(w, "credentials revoked: %s. They still work at the vendor until you revoke them there too.\n", strings.Join(r.Revoked, ", "))
	} else if !r.PurgeOnly {
		fmt.Fprintln(w, "no live credential was bound to it")
	}
	fmt.Fprintf(w, "audit entry %d (%s)\n", r.Entry.Seq, r.Entry.Action)
}

// integEntities counts entities ("entity" takes -ies, which plural does not).
func integEntities(n int64) string {
	if n == 1 {
		return "1 entity"
	}
	return fmt.Sprintf("%d entities", n)
}

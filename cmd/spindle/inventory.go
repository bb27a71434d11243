package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

func (a *app) openStore(cmd *cobra.Command) (store.Store, error) {
	return a.openDB(cmd.Context(), true, "no inventory at %s: run `spindle example run` or `spindle run SPEC` first, or pass --db")
}

func (a *app) inventoryCmd() *cobra.Command {
	c := &cobra.Command{Use: "inventory", Short: "Read the NHI inventory"}
	var q store.Query
	var kind, presence string
	list := &cobra.Command{
		Use:   "list",
		Short: "List inventoried entities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind != "" && !nhi.Kind(kind).Valid() {
				return &exitError{2, fmt.Errorf("--kind %q is not a kind; one of %v", kind, nhi.Kinds())}
			}
			switch store.Presence(presence) {
			case "", store.Present, store.Unverified, store.Gone:
			default:
				return &exitError{2, fmt.Errorf("--presence %q: want present, unverified or gone", presence)}
			}
			q.Kind, q.Presence = nhi.Kind(kind), store.Presence(presence)
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ents, err := st.Entities(cmd.Context(), q)
			if err != nil {
				return err
			}
			if a.jsonOut {
				if ents == nil {
					ents = []store.Entity{}
				}
				return json.NewEncoder(a.stdout).Encode(ents)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tKIND\tEXTERNAL ID\tNAME\tSTATUS\tOWNER\tLAST USED\tEXPIRES\tPRESENCE")
			for _, e := range ents {
				owner := "-"
				if e.Owner != nil {
					owner = e.Owner.ExternalID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Source, e.Kind, e.ExternalID, str(e.Name),
					str((*string)(e.Status)), owner, day(e.LastUsedAt), day(e.ExpiresAt), e.Presence)
			}
			tw.Flush()
			fmt.Fprintf(a.stderr, "%d entities\n", len(ents))
			return nil
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "only this kind (service_account, api_key, …)")
	list.Flags().StringVar(&q.Source, "source", "", "only this integration")
	list.Flags().StringVar(&presence, "presence", "", "only present, unverified or gone")
	list.Flags().IntVar(&q.Limit, "limit", 0, "at most this many (0: all)")

	var runsSource string
	var runsLimit int
	runs := &cobra.Command{
		Use:   "runs",
		Short: "List recorded sync runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			rs, err := st.Runs(cmd.Context(), runsSource, runsLimit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				if rs == nil {
					rs = []store.Run{}
				}
				return json.NewEncoder(a.stdout).Encode(rs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSOURCE\tSTARTED\tSTATUS\tSTREAMS\tRECORDS")
			for _, r := range rs {
				n := 0
				for _, s := range r.Streams {
					n += s.Records
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", r.ID, r.Source, r.StartedAt.Format(time.RFC3339), r.Status, len(r.Streams), n)
			}
			return tw.Flush()
		},
	}
	runs.Flags().StringVar(&runsSource, "source", "", "only this integration")
	runs.Flags().IntVar(&runsLimit, "limit", 20, "at most this many")
	c.AddCommand(list, runs)
	return c
}

func str(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02")
}

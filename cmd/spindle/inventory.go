package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

func (a *app) openStore(cmd *cobra.Command) (store.Store, error) {
	return a.openDB(cmd.Context(), true, "no inventory at %s: run `spindle example run` or `spindle run SPEC` first, or pass --db")
}

func (a *app) inventoryCmd() *cobra.Command {
	c := &cobra.Command{Use: "inventory", Short: "Read the NHI inventory"}
	var q store.Query
	var kind, presence, finding string
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
			if finding != "" && !findings.Known(finding) {
				return &exitError{2, fmt.Errorf("--finding %q is not a finding; one of %s", finding, strings.Join(ruleIDs(), ", "))}
			}
			q.Kind, q.Presence = nhi.Kind(kind), store.Presence(presence)
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			sq := q
			if finding != "" {
				sq.Limit = 0 // the limit counts entities with the finding
			}
			stored, err := st.Entities(cmd.Context(), sq)
			if err != nil {
				return err
			}
			ents := []findings.Entity{}
			for _, e := range findings.Assess(stored, time.Now(), findings.Options{}) {
				if q.Limit > 0 && len(ents) == q.Limit {
					break
				}
				if finding == "" || findings.Has(e.Findings, finding) {
					ents = append(ents, e)
				}
			}
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(ents)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tKIND\tEXTERNAL ID\tNAME\tSTATUS\tOWNER\tLAST USED\tEXPIRES\tPRESENCE\tFINDINGS")
			for _, e := range ents {
				owner := "-"
				if e.Owner != nil {
					owner = e.Owner.ExternalID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Source, e.Kind, e.ExternalID, str(e.Name),
					str((*string)(e.Status)), owner, day(e.LastUsedAt), day(e.ExpiresAt), e.Presence, findingList(e.Findings))
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
	list.Flags().StringVar(&finding, "finding", "", "only entities with this finding (see `spindle inventory findings`; docs/findings.md)")

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
	c.AddCommand(list, runs, a.findingsCmd())
	return c
}

// findingCount is one row of `inventory findings`.
type findingCount struct {
	Source string `json:"source"`
	findings.Rule
	Entities int `json:"entities"`
}

func (a *app) findingsCmd() *cobra.Command {
	var source string
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "Count the entities with each finding (OWASP NHI Top 10), per source",
		Long: `Evaluates every inventoried entity against the finding rules of
docs/findings.md, each citing an OWASP Non-Human Identities Top 10 (2025)
risk, and counts the entities with each finding per source. Every rule is
listed for every source, so a 0 says the rule was checked and did not fire.
List the entities with one finding with ` + "`spindle inventory list --finding ID`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ents, err := st.Entities(cmd.Context(), store.Query{Source: source})
			if err != nil {
				return err
			}
			rows := countFindings(findings.Assess(ents, time.Now(), findings.Options{}))
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tFINDING\tSEVERITY\tRISK\tENTITIES\tTITLE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Source, r.ID, r.Severity, r.Risk, r.Entities, r.Title)
			}
			tw.Flush()
			fmt.Fprintf(a.stderr, "%d entities evaluated against %d rules\n", len(ents), len(findings.IDs()))
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only this integration")
	return cmd
}

// countFindings counts, per source (in name order) and rule (in rule
// order), the entities with the finding; every rule appears for every
// source, zeros included.
func countFindings(ents []findings.Entity) []findingCount {
	counts := map[string]map[string]int{}
	var sources []string
	for _, e := range ents {
		if counts[e.Source] == nil {
			counts[e.Source] = map[string]int{}
			sources = append(sources, e.Source)
		}
		for _, f := range e.Findings {
			counts[e.Source][f.ID]++
		}
	}
	slices.Sort(sources)
	rows := []findingCount{}
	for _, s := range sources {
		for _, r := range findings.IDs() {
			rows = append(rows, findingCount{Source: s, Rule: r, Entities: counts[s][r.ID]})
		}
	}
	return rows
}

func ruleIDs() []string {
	var ids []string
	for _, r := range findings.IDs() {
		ids = append(ids, r.ID)
	}
	return ids
}

// findingList is the findings column: ids, or "-" for none.
func findingList(fs []findings.Finding) string {
	if len(fs) == 0 {
		return "-"
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return strings.Join(ids, ",")
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

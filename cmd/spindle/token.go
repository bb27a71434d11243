package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/governance"
)

// openAuthn opens the database with governance, the audit log and the API
// token service over it.
func (a *app) openAuthn(cmd *cobra.Command, mustExist bool) (*authn.Service, func() error, error) {
	st, err := a.openDB(cmd.Context(), mustExist, "no database at %s: grant roles first (`spindle role grant NAME ROLE`), or pass --db (or set SPINDLE_DB)")
	if err != nil {
		return nil, nil, err
	}
	log := audit.New(st.DB(), audit.Options{})
	g, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	s, err := authn.New(cmd.Context(), st.DB(), authn.Options{Gov: g, Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return s, st.Close, nil
}

func (a *app) tokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "API tokens for the HTTP server (`spindle serve`): create, list, revoke",
		Long: `An API token lets a program or a person call the HTTP API (Authorization:
Bearer spx_…) or log in to the dashboard. A token acts as one person (or
agent) under one role they hold; the role is re-checked at every request,
so revoking the role (` + "`spindle role revoke`" + `) takes the token's power away at
once. Tokens are stored hashed (sha256): the plaintext is printed once,
when it is created, and never again. See docs/server.md.`,
	}
	var role, as, forName string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create --role ROLE --as PERSON [--for NAME] [--ttl 720h]",
		Short: "Issue a token; it is printed once, on stdout",
		Long: `Issues a token for NAME (--for; default PERSON themselves) to act under
ROLE, which NAME must hold. An admin may issue a token to anyone, anyone
else only to themselves; an agent's token (--for agent:BRAIN --role agent)
may propose and read, nothing else. The token is printed on stdout only —
alone on its line, or in --json — and cannot be shown again; what it is
goes to stderr. Audited as token.create (never the token).`,
		Example: `  spindle token create --role approver --as alice
  TOKEN=$(spindle token create --role agent --for agent:heuristic --as root --ttl 24h)
  spindle token create --role viewer --for vera --as root --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := govNeedAs(cmd, as, "who issues the token: an admin, or the person it is for")
			if err != nil {
				return err
			}
			r := governance.Role(role)
			if !r.Valid() {
				return &exitError{2, fmt.Errorf("--role %q: want one of admin, approver, operator, viewer, agent (see `%s --help`)", role, cmd.CommandPath())}
			}
			person := strings.TrimSpace(forName)
			if person == "" {
				person = by
			}
			s, closeDB, err := a.openAuthn(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			plain, t, err := s.CreateToken(cmd.Context(), by, person, r, ttl)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(struct {
					Plaintext string `json:"token"`
					authn.Token
				}{plain, t})
			}
			fmt.Fprintln(a.stdout, plain)
			fmt.Fprintf(a.stderr, "token %d for %s as %s, expires %s; shown once — keep it in a secret store\n",
				t.ID, t.Name, t.Role, t.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "the role the token acts under (required)")
	create.Flags().StringVar(&as, "as", "", "who issues it (required): an admin, or the person it is for")
	create.Flags().StringVar(&forName, "for", "", "the person or agent the token acts as (default: --as)")
	create.Flags().DurationVar(&ttl, "ttl", authn.DefaultTokenTTL, "how long the token is valid (at most 8784h)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their values), newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, closeDB, err := a.openAuthn(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			ts, err := s.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(ts)
			}
			if len(ts) == 0 {
				fmt.Fprintln(a.stdout, "no tokens: issue one with `spindle token create --role ROLE --as PERSON`")
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFOR\tROLE\tCREATED BY\tEXPIRES\tLAST USED\tSTATUS")
			for _, t := range ts {
				status := "active"
				switch {
				case t.RevokedAt != nil:
					status = "revoked by " + t.RevokedBy
				case !t.Active(now):
					status = "expired"
				}
				used := "-"
				if t.LastUsedAt != nil {
					used = t.LastUsedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedBy, t.ExpiresAt.Format(time.RFC3339), used, status)
			}
			return tw.Flush()
		},
	}

	var revokeAs string
	revoke := &cobra.Command{
		Use:   "revoke ID --as PERSON",
		Short: "Revoke a token; its dashboard sessions end with it",
		Long: `Revokes token ID at once: API calls with it fail, and the dashboard
sessions opened with it end. An admin may revoke any token, a person their
own. Audited as token.revoke.`,
		Example: `  spindle token revoke 3 --as root`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return &exitError{2, fmt.Errorf("%q is not a token ID; list them with `spindle token list` (see `%s --help`)", args[0], cmd.CommandPath())}
			}
			by, err := govNeedAs(cmd, revokeAs, "who revokes it: an admin, or the person it is for")
			if err != nil {
				return err
			}
			s, closeDB, err := a.openAuthn(cmd, true)
			if err != nil {
				return err
			}
			defer closeDB()
			t, err := s.RevokeToken(cmd.Context(), by, id)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.govJSON(t)
			}
			fmt.Fprintf(a.stdout, "revoked token %d (%s as %s)\n", t.ID, t.Name, t.Role)
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeAs, "as", "", "who revokes it (required): an admin, or the person it is for")
	c.AddCommand(create, list, revoke)
	return c
}

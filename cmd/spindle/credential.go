package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/vault"
)

// credentialCommands registers the vault's commands: `credential` (set,
// list, rotate, revoke) and `terms` (accept, list).
func (a *app) credentialCommands() []*cobra.Command {
	return []*cobra.Command{a.credentialCmd(), a.termsCmd()}
}

// openVault opens the database at --db with its audit log and vault.
// identityFile is --vault-identity ("" when not given): it wins; then
// $SPINDLE_VAULT_IDENTITY (the key itself), then
// $SPINDLE_VAULT_IDENTITY_FILE, then vault.key beside the database. With
// mustExist a missing database is an error instead of a new empty one, so
// reading commands never create files. The caller closes the store.
func (a *app) openVault(ctx context.Context, identityFile string, mustExist bool) (database, *vault.Vault, *audit.Log, error) {
	st, err := a.openDB(ctx, mustExist, "no database at %s: provision a credential with `spindle credential set` first, or pass --db")
	if err != nil {
		return nil, nil, nil, err
	}
	log := audit.New(st.DB(), audit.Options{})
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	// Roles are enforced below the CLI: the vault asks governance.
	o := vault.Options{Audit: log, Authorize: func(ctx context.Context, person, action string) error {
		return gov.Authorize(ctx, person, governance.Action(action))
	}}
	id := a.vaultIdentity(identityFile)
	o.IdentityFile, o.IdentityValue = id.IdentityFile, id.IdentityValue
	v, err := vault.Open(st.DB(), o)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, v, log, nil
}

// credActor is the actor of a person's command: --as is required, because a
// credential or an acceptance with nobody behind it proves nothing.
func credActor(cmd *cobra.Command, as string) (audit.Actor, error) {
	if strings.TrimSpace(as) == "" {
		return audit.Actor{}, &exitError{2, fmt.Errorf("say who you are: pass --as NAME (the person taking responsibility; it is recorded in the audit log) (see `%s --help`)", cmd.CommandPath())}
	}
	return audit.Actor{Kind: audit.ActorPerson, Name: strings.TrimSpace(as)}, nil
}

// credSecretArgs accepts exactly the credential NAME. A second argument is most
// likely the secret itself: refuse it, say how to pass it, and never repeat
// it (the message would land in terminals and logs).
func credSecretArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("missing the credential NAME (the spec's connection.auth.credential)")
	case len(args) > 1:
		return fmt.Errorf("%s takes only the credential NAME: a secret is never accepted as an argument, where shell history and process lists keep it. "+
			"Pipe it on stdin, e.g. printf '%%s' \"$TOKEN\" | %s NAME …, or run the command in a terminal to be prompted. "+
			"If the extra argument was the secret, treat it as exposed and rotate it at the vendor", cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// credReadSecret reads the secret for name: from the terminal without echo
// (typed twice) when stdin is one, else from stdin (a pipe or file), with
// one trailing newline removed. The caller clears the returned slice
// (s[:cap(s)]): it is the only buffer the secret was read into.
func credReadSecret(cmd *cobra.Command, name string) ([]byte, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return credPrompt(int(f.Fd()), cmd.ErrOrStderr(), name)
	}
	// One buffer of the largest size accepted, read once: no growing slice
	// leaves copies of the secret behind. Two bytes spare for "\r\n".
	buf := make([]byte, vault.MaxSecretBytes+3)
	n, err := io.ReadFull(in, buf)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	case err != nil:
		clear(buf)
		return nil, fmt.Errorf("read the secret from stdin: %w", err)
	default:
		clear(buf)
		return nil, fmt.Errorf("stdin holds more than %d bytes: pipe only the credential", vault.MaxSecretBytes)
	}
	s := buf[:n]
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
		if len(s) > 0 && s[len(s)-1] == '\r' {
			s = s[:len(s)-1]
		}
	}
	if len(s) == 0 {
		clear(buf)
		return nil, fmt.Errorf("no secret on stdin for credential %s: pipe it, e.g. printf '%%s' \"$TOKEN\" | %s %s …, or run the command in a terminal to be prompted", name, cmd.CommandPath(), name)
	}
	return s, nil
}

// credPrompt asks on the terminal, without echo, twice.
func credPrompt(fd int, prompt io.Writer, name string) ([]byte, error) {
	fmt.Fprintf(prompt, "Secret for credential %s (input hidden): ", name)
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, fmt.Errorf("read the secret from the terminal: %w", err)
	}
	if len(first) == 0 {
		return nil, errors.New("no secret entered; nothing was stored")
	}
	fmt.Fprint(prompt, "Again, to confirm: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	defer clear(second)
	if err != nil {
		clear(first)
		return nil, fmt.Errorf("read the secret from the terminal: %w", err)
	}
	if subtle.ConstantTimeCompare(first, second) != 1 {
		clear(first)
		return nil, errors.New("the two entries differ; nothing was stored: run the command again")
	}
	return first, nil
}

func (a *app) credentialCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "credential",
		Short: "Provision, list, rotate and revoke the credentials integrations use",
		Long: `The vault: each credential is entered by a person, encrypted at rest with
age, and bound to one integration and one host; production sync gets it only
for that binding. Secrets are read from stdin or a terminal prompt, never
from the command line, and never printed.

The age identity that decrypts the vault is, in order: --vault-identity FILE,
$SPINDLE_VAULT_IDENTITY (the AGE-SECRET-KEY-1… string itself),
$SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db. A missing file is
created (mode 0600) when the first credential is set; a file others can read
is refused. Keep it apart from the database backups.`,
	}
	var identity string
	c.PersistentFlags().StringVar(&identity, "vault-identity", "", "age identity file (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")

	var as, integ, host, tokenHost, every string
	set := &cobra.Command{
		Use:   "set NAME --integration I --host H --as PERSON",
		Short: "Store a new credential, read from stdin or a terminal prompt",
		Example: `  printf '%s' "$PAGERDUTY_TOKEN" | spindle credential set pagerduty --integration pagerduty --host api.pagerduty.com --as alice
  spindle credential set okta --integration okta --host acme.okta.com --as alice     # prompts`,
		Args: credSecretArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := credActor(cmd, as)
			if err != nil {
				return err
			}
			if integ == "" || host == "" {
				return &exitError{2, fmt.Errorf("--integration and --host are required: the credential is bound to one integration and the host of its base URL (see `%s --help`)", cmd.CommandPath())}
			}
			d, err := integration.ParseDuration(every)
			if err != nil || d <= 0 {
				return &exitError{2, fmt.Errorf("--rotate-every %q: want a positive duration such as 90d or 720h", every)}
			}
			secret, err := credReadSecret(cmd, args[0])
			if err != nil {
				return err
			}
			defer clear(secret[:cap(secret)])
			st, v, _, err := a.openVault(cmd.Context(), identity, false)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := v.Set(cmd.Context(), actor, vault.Credential{Name: args[0], Integration: integ, Host: host, TokenHost: tokenHost, RotateEvery: d.Std()}, secret)
			if err != nil {
				return err
			}
			return a.printCredential(m, fmt.Sprintf("credential %s set: version %d, bound to integration %s at %s%s; rotate by %s",
				m.Name, m.Version, m.Integration, m.Host, credTokenNote(m), m.RotateBy.Format("2006-01-02")))
		},
	}
	set.Flags().StringVar(&integ, "integration", "", "the one integration (spec metadata.name) that may use it (required)")
	set.Flags().StringVar(&host, "host", "", "the host of the integration's base URL, the one place it may be sent (required)")
	set.Flags().StringVar(&tokenHost, "token-host", "", "oauth2: the token URL's host, when not --host")
	set.Flags().StringVar(&every, "rotate-every", "90d", "rotation cadence (90d, 720h …)")
	set.Flags().StringVar(&as, "as", "", "the person provisioning it (required; audited)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List credentials: binding, created, rotate-by (overdue marked), last used, revoked, version; never a secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, v, _, err := a.openVault(cmd.Context(), identity, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ms, err := v.List(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(ms)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINTEGRATION\tHOST\tCREATED\tROTATE BY\tLAST USED\tREVOKED\tVERSION")
			overdue := 0
			for _, m := range ms {
				rotate := m.RotateBy.Format("2006-01-02")
				switch {
				case m.Revoked():
					rotate = "-"
				case m.Overdue:
					rotate += " (overdue)"
					overdue++
				}
				used := "never"
				if m.LastUsedAt != nil {
					used = m.LastUsedAt.Format("2006-01-02")
				}
				revoked := "-"
				if m.RevokedAt != nil {
					revoked = m.RevokedAt.Format("2006-01-02") + " by " + m.RevokedBy
				}
				fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s by %s\t%s\t%s\t%s\t%d\n", m.Name, m.Integration, m.Host, credTokenNote(m),
					m.CreatedAt.Format("2006-01-02"), m.CreatedBy, rotate, used, revoked, m.Version)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stderr, plural(len(ms), "credential"))
			if overdue > 0 {
				fmt.Fprintf(a.stderr, "%d overdue for rotation: issue a new secret at the vendor and run `spindle credential rotate NAME --as PERSON`\n", overdue)
			}
			return nil
		},
	}

	var rotAs string
	rotate := &cobra.Command{
		Use:   "rotate NAME --as PERSON",
		Short: "Replace a credential's secret (read from stdin or a terminal prompt); the old one stops working here at once",
		Args:  credSecretArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := credActor(cmd, rotAs)
			if err != nil {
				return err
			}
			secret, err := credReadSecret(cmd, args[0])
			if err != nil {
				return err
			}
			defer clear(secret[:cap(secret)])
			st, v, _, err := a.openVault(cmd.Context(), identity, true)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := v.Rotate(cmd.Context(), actor, args[0], secret)
			if err != nil {
				return err
			}
			return a.printCredential(m, fmt.Sprintf("credential %s rotated: version %d; rotate by %s. Revoke the old secret at the vendor.",
				m.Name, m.Version, m.RotateBy.Format("2006-01-02")))
		},
	}
	rotate.Flags().StringVar(&rotAs, "as", "", "the person rotating it (required; audited)")

	var revAs string
	revoke := &cobra.Command{
		Use:   "revoke NAME --as PERSON",
		Short: "Revoke a credential: its secret is destroyed and no run gets it again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := credActor(cmd, revAs)
			if err != nil {
				return err
			}
			st, v, _, err := a.openVault(cmd.Context(), identity, true)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := v.Revoke(cmd.Context(), actor, args[0])
			if err != nil {
				return err
			}
			return a.printCredential(m, fmt.Sprintf("credential %s revoked (version %d): no run gets it again. It still works at the vendor until you revoke it there too.", m.Name, m.Version))
		},
	}
	revoke.Flags().StringVar(&revAs, "as", "", "the person revoking it (required; audited)")

	c.AddCommand(set, list, rotate, revoke)
	return c
}

func credTokenNote(m vault.Meta) string {
	if m.TokenHost == "" {
		return ""
	}
	return " (token " + m.TokenHost + ")"
}

// printCredential prints a credential's metadata as JSON, or the line for people.
func (a *app) printCredential(m vault.Meta, line string) error {
	if a.jsonOut {
		return json.NewEncoder(a.stdout).Encode(m)
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

func (a *app) termsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "terms",
		Short: "Record and list people's acceptance of vendor terms (production sync requires it)",
	}
	var as, vendor, terms string
	accept := &cobra.Command{
		Use:   "accept INTEGRATION --as PERSON [--vendor V] [--terms URL-or-version]",
		Short: "Record that you accept the vendor's terms for an integration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := credActor(cmd, as)
			if err != nil {
				return err
			}
			st, v, _, err := a.openVault(cmd.Context(), "", false)
			if err != nil {
				return err
			}
			defer st.Close()
			acc, err := v.AcceptTerms(cmd.Context(), actor, args[0], vendor, terms)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(acc)
			}
			what := "the vendor's terms"
			if acc.Terms != "" {
				what += " (" + acc.Terms + ")"
			}
			fmt.Fprintf(a.stdout, "%s accepted %s for integration %s at %s\n", acc.AcceptedBy, what, acc.Integration, acc.AcceptedAt.Format(time.RFC3339))
			return nil
		},
	}
	accept.Flags().StringVar(&as, "as", "", "the person accepting (required; audited)")
	accept.Flags().StringVar(&vendor, "vendor", "", "the vendor whose terms these are")
	accept.Flags().StringVar(&terms, "terms", "", "the terms accepted: a URL or a version")

	list := &cobra.Command{
		Use:   "list",
		Short: "List terms acceptances, newest first for each integration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, v, _, err := a.openVault(cmd.Context(), "", true)
			if err != nil {
				return err
			}
			defer st.Close()
			as, err := v.Terms(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(as)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "INTEGRATION\tVENDOR\tTERMS\tACCEPTED\tBY")
			for _, acc := range as {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", acc.Integration, credDash(acc.Vendor), credDash(acc.Terms), acc.AcceptedAt.Format(time.RFC3339), acc.AcceptedBy)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stderr, plural(len(as), "acceptance"))
			return nil
		},
	}
	c.AddCommand(accept, list)
	return c
}

func credDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

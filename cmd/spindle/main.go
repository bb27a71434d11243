// Command spindle builds, runs and governs integrations that inventory
// non-human identities. See README.md and `spindle help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code: 2 for usage, 3 for a run that
// finished degraded (a stream partial, denied or failed).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the CLI with explicit streams so tests drive it in-process.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "spindle: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// app holds what every command shares; no package-level state.
type app struct {
	stdout, stderr io.Writer
	dbPath         string
	pgURL          string // --postgres; see postgresURL
	jsonOut        bool
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "spindle",
		Short: "Build, run and govern integrations that inventory non-human identities",
		Long: `Spindle turns vendor API documentation into read-only integrations that
inventory non-human identities (service accounts, API keys, tokens, OAuth
apps, webhooks …) into one canonical model.

Start with:  spindle build examples/docs/acme-keys.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defDB := os.Getenv("SPINDLE_DB")
	if defDB == "" {
		defDB = "spindle.db"
	}
	root.PersistentFlags().StringVar(&a.dbPath, "db", defDB, "inventory database file (SQLite); env SPINDLE_DB")
	root.PersistentFlags().StringVar(&a.pgURL, "postgres", "", "use the PostgreSQL database at this URL instead of --db, shared by several workers (env SPINDLE_POSTGRES; the URL is never printed)")
	root.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "print machine-readable JSON on stdout")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{2, fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())}
	})
	root.AddCommand(a.buildCmd(), a.validateCmd(), a.schemaCmd(), a.specCmd(), a.runCmd(), a.inventoryCmd(), a.exampleCmd(), a.sandboxCmd(), a.docsCmd())
	root.AddCommand(a.governanceCommands()...)
	root.AddCommand(a.credentialCommands()...)
	root.AddCommand(a.auditCommands()...)
	root.AddCommand(a.syncCmd(), a.integrationCmd(), a.driftCmd(), a.alertCmd())
	root.AddCommand(a.scheduleCmd(), a.workerCmd(), a.jobsCmd())
	root.AddCommand(a.serveCmd(), a.tokenCmd())
	usageErrors(root)
	return root
}

// usageErrors makes every kind of misuse exit 2 with a pointer to --help:
// wrong argument counts (cobra's Args checks bypass the flag error hook)
// and unknown subcommands (cobra would print help and exit 0).
func usageErrors(c *cobra.Command) {
	if c.HasSubCommands() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{2, fmt.Errorf("unknown command %q for %q (see `%s --help`)", args[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return cmd.Help()
		}
	} else if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &exitError{2, fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/demo"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
)

func (a *app) exampleCmd() *cobra.Command {
	c := &cobra.Command{Use: "example", Short: "Try Spindle on the bundled example vendor"}
	var seed int64
	var out string
	run := &cobra.Command{
		Use:   "run",
		Short: "Serve the bundled Acme Cloud API on loopback and run its integration into the inventory",
		Long: `Starts a synthetic vendor API (Acme Cloud: users, service accounts, their
API keys, webhooks; four paging styles) on a loopback port, runs the
bundled integration spec against it with the synthetic token the server
issued, and stores the canonical records in the inventory (--db).
Nothing leaves this machine. Then try: spindle inventory list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.exampleRun(cmd.Context(), seed, out)
		},
	}
	run.Flags().Int64Var(&seed, "seed", 1, "seed of the synthetic data")
	run.Flags().StringVar(&out, "out", "", "also write records as JSON Lines to this file (- for stdout)")
	spec := &cobra.Command{
		Use:   "spec",
		Short: "Print the bundled example integration spec",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.stdout.Write(demo.Spec())
			return err
		},
	}
	c.AddCommand(run, spec)
	return c
}

// staticSecret resolves every reference to one in-memory value: the
// synthetic token the example server issued. It never touches the
// environment or a vault.
type staticSecret runtime.Secret

func (s staticSecret) Resolve(context.Context, string) (runtime.Secret, error) {
	return runtime.Secret(s), nil
}

func (a *app) exampleRun(ctx context.Context, seed int64, out string) error {
	vendor, err := demo.NewHandler(demo.Options{Seed: seed})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the example API on loopback: %w", err)
	}
	srv := &http.Server{Handler: vendor}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(a.stderr, "example API: %v\n", err)
		}
	}()
	defer srv.Close()
	doc, err := integration.Load("example/acme-cloud.yaml", demo.Spec())
	if err != nil {
		return fmt.Errorf("bundled spec: %w", err)
	}
	base := "http://" + ln.Addr().String() + demo.BasePath
	fmt.Fprintf(a.stderr, "example Acme Cloud API listening on %s (synthetic data, seed %d)\n", base, seed)
	return a.execRun(ctx, doc, runtime.Options{BaseURL: base, Secrets: staticSecret(runtime.NewSecret(vendor.Token()))},
		runFlags{out: out})
}

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

type runFlags struct {
	baseURL       string
	config        []string
	credentialEnv string
	out           string
	verbose       bool
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run SPEC",
		Short: "Run a spec against an API and store the canonical records (development)",
		Long: `Runs an integration spec against a vendor API (or a sandbox), maps every
record into the canonical NHI model, and writes the records to the
inventory (--db) and/or as JSON Lines (--out). Progress per stream goes to
stderr; a summary follows.

The secret comes from the environment variable named by --credential-env,
never from a flag value. Exit status: 0 when every stream completed, 3 when
the run finished but a stream was partial, denied or failed, 1 on errors.`,
		Example: `  SPINDLE_TOKEN=… spindle run pagerduty.yaml --credential-env SPINDLE_TOKEN
  spindle run okta.yaml --config subdomain=acme --credential-env OKTA_TOKEN --out keys.jsonl --db ""`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := integration.LoadFile(args[0])
			if err != nil {
				return err
			}
			cfg, err := parseConfig(f.config)
			if err != nil {
				return &exitError{2, err}
			}

			var secrets runtime.SecretResolver
			if f.credentialEnv != "" {
				secrets = runtime.EnvResolver{Default: f.credentialEnv}
			}
			return a.execRun(cmd.Context(), doc, runtime.Options{BaseURL: f.baseURL, Config: cfg, Secrets: secrets}, f)
		},
	}
	c.Flags().StringVar(&f.baseURL, "base-url", "", "override the spec's base_url (a sandbox or test server)")
	c.Flags().StringArrayVar(&f.config, "config", nil, "a connection.config input as NAME=VALUE (repeatable)")
	c.Flags().StringVar(&f.credentialEnv, "credential-env", "", "environment variable holding the secret for connection.auth")
	c.Flags().StringVar(&f.out, "out", "", "also write records as JSON Lines to this file (- for stdout)")
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log each request and retry (credentials redacted)")
	return c
}

func parseConfig(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want NAME=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// specDigest identifies the exact spec a run executed.
func specDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// execRun runs a loaded spec into the store and/or JSON Lines, with
// progress on stderr and a summary on stdout.
func (a *app) execRun(ctx context.Context, doc *integration.Document, opts runtime.Options, f runFlags) error {
	_, err := a.runSpec(ctx, doc, opts, f)
	return err
}

// runSpec is execRun that also returns the run's report (nil when the run
// did not happen), for callers that record the outcome (spindle sync).
func (a *app) runSpec(ctx context.Context, doc *integration.Document, opts runtime.Options, f runFlags) (*runtime.Report, error) {
	if f.out == "-" && a.jsonOut {
		return nil, &exitError{2, fmt.Errorf("--out - and --json both write to stdout; write the records to a file")}
	}
	red := opts.Redactor
	if red == nil {
		red = runtime.NewRedactor()
		opts.Redactor = red
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(redactWriter{red, a.stderr}, &slog.HandlerOptions{Level: level}))
	prog := newProgress(a.stderr)
	opts.Progress = prog.update
	runner, err := runtime.New(ctx, doc.Spec, opts)
	if err != nil {
		return nil, red.Error(err)
	}

	var sinks multiSink
	var st store.Store
	if a.dbPath != "" || a.postgresURL() != "" {
		s, err := a.openDB(ctx, false, "")
		if err != nil {
			return nil, fmt.Errorf("open inventory: %w", err)
		}
		defer s.Close()
		st = s
	}
	var sync store.Sync
	if st != nil {
		sync, err = st.BeginSync(ctx, doc.Spec.Metadata.Name, specDigest(doc.Raw), time.Now())
		if err != nil {
			return nil, err
		}
		defer sync.Rollback()
		sinks = append(sinks, sync)
	}
	if f.out != "" {
		var w io.Writer = a.stdout
		if f.out != "-" {
			file, err := os.Create(f.out)
			if err != nil {
				return nil, fmt.Errorf("--out: %w", err)
			}
			defer file.Close()
			w = file
		}
		bw := bufio.NewWriterSize(w, 1<<16)
		defer bw.Flush()
		sinks = append(sinks, &jsonlSink{enc: json.NewEncoder(bw)})
	}
	if len(sinks) == 0 {
		return nil, &exitError{2, fmt.Errorf("nowhere to write: give --db PATH and/or --out FILE")}
	}
	fmt.Fprintf(a.stderr, "running %s (%s) against %s\n", doc.Spec.Metadata.Name, plural(len(doc.Spec.Streams), "stream"), red.String(hostOf(opts.BaseURL, doc.Spec.Connection.BaseURL)))
	rep, err := runner.Run(ctx, sinks)
	if err != nil {
		return nil, red.Error(fmt.Errorf("run aborted, inventory unchanged: %w", err))
	}
	if sync != nil {
		if _, err := sync.Commit(ctx, rep.FinishedAt); err != nil {
			return nil, fmt.Errorf("saving the run, inventory unchanged: %w", err)
		}
	}
	a.printReport(rep, red)
	if rep.Status != "ok" {
		return rep, &exitError{3, fmt.Errorf("run %s: see the stream errors above; nothing known was deleted", rep.Status)}
	}
	return rep, nil
}

func hostOf(override, spec string) string {
	if override != "" {
		return override
	}
	return spec
}

func (a *app) printReport(rep *runtime.Report, red *runtime.Redactor) {
	if a.jsonOut {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(a.stdout, red.String(string(b)))
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tOUTCOME\tRECORDS\tPAGES\tREQUESTS\tRETRIES\tTIME")
	for _, s := range rep.Streams {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Stream, s.Outcome, s.Records, s.Pages, s.Requests, s.Retries, s.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	for _, s := range rep.Streams {
		for _, e := range s.Errors {
			fmt.Fprintf(a.stdout, "  %s: %s\n", s.Stream, red.String(e))
		}
		if s.StopReason != "" {
			fmt.Fprintf(a.stdout, "  %s: stopped early (%s)\n", s.Stream, s.StopReason)
		}
	}
	fmt.Fprintf(a.stdout, "%s: %d records, status %s, %s\n", rep.Source, rep.Records, rep.Status, rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond))
}

// multiSink fans records out to several sinks (store and JSON Lines).
type multiSink []runtime.Sink

func (m multiSink) Put(ctx context.Context, stream string, rec *nhi.Record) error {
	for _, s := range m {
		if err := s.Put(ctx, stream, rec); err != nil {
			return err
		}
	}
	return nil
}

func (m multiSink) EndStream(ctx context.Context, res store.StreamResult) error {
	for _, s := range m {
		if err := s.EndStream(ctx, res); err != nil {
			return err
		}
	}
	return nil
}

// jsonlSink writes one canonical record per line.
type jsonlSink struct{ enc *json.Encoder }

func (j *jsonlSink) Put(_ context.Context, _ string, rec *nhi.Record) error { return j.enc.Encode(rec) }
func (j *jsonlSink) EndStream(context.Context, store.StreamResult) error    { return nil }

// redactWriter scrubs known secrets from log output.
type redactWriter struct {
	red *runtime.Redactor
	w   io.Writer
}

func (r redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.red.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// progress prints a line per stream at most twice a second (the first
// page always); the summary table has the final figures.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, last: map[string]time.Time{}}
}

func (p *progress) update(pr runtime.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last[pr.Stream]) < 500*time.Millisecond {
		return
	}
	p.last[pr.Stream] = time.Now()
	fmt.Fprintf(p.w, "  %-28s page %-6d %8d records  %d retries\n", pr.Stream, pr.Pages, pr.Records, pr.Retries)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

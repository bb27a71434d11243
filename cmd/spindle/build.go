package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/agent/llm"
	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/validate"
)

type buildFlags struct {
	out           string
	brain         string
	maxIterations int
	maxTime       time.Duration
	maxTokens     int
	maxCost       float64
	seed          int64
	owner         string
	llmProvider   string
	llmBaseURL    string
	llmModel      string
}

func (a *app) buildCmd() *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   "build DOC",
		Short: "Build an integration from vendor API docs and validate it in a sandbox",
		Long: `Reads a vendor's API documentation (OpenAPI 3.x or Swagger 2.0, a file or
URL; or a markdown/HTML page for the llm brain), drafts an integration spec
that reads the vendor's non-human identities, validates it in a sandbox
generated from the same documentation — completeness against ground truth,
canonical records, null rates, relationships, auth, resilience to 429s,
5xx bursts and slow responses, and loud failure on schema drift — repairs
what fails, and writes a proposal bundle for a person to review:

  integration.yaml   the spec
  report.md          for the reviewer: what it reads, from which endpoints,
                     with which least-privilege scopes, what it could not
                     cover and why, questions the docs leave open
  report.json        the same as data, with the scorecard
  transcript.jsonl   every tool call the agent made, with its result

The agent works only in the sandbox, with synthetic data and credentials;
it never sees a real credential and never approves or deploys anything.
The verdict is a final validation with a seed the agent never saw.

Brains: heuristic (default; offline and deterministic) or llm (any
OpenAI-compatible server or Anthropic, configured by flags or
SPINDLE_LLM_PROVIDER, SPINDLE_LLM_BASE_URL, SPINDLE_LLM_MODEL and
SPINDLE_LLM_API_KEY; the key is read from the environment only).

Exit status: 0 when validation passed, 1 when it did not (the bundle still
says why), 2 for usage errors.`,
		Example: `  spindle build examples/docs/acme-keys.yaml --out /tmp/acme
  spindle build ../shared/corpus/okta/management.2024.09.2.yaml --out okta-proposal
  SPINDLE_LLM_BASE_URL=http://localhost:11434/v1 SPINDLE_LLM_MODEL=qwen3 \
    spindle build api.yaml --brain llm --max-iterations 40`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.build(cmd.Context(), args[0], f)
		},
	}
	c.Flags().StringVar(&f.out, "out", "", "bundle directory (default proposals/<integration name>)")
	c.Flags().StringVar(&f.brain, "brain", "heuristic", "heuristic (offline) or llm")
	c.Flags().IntVar(&f.maxIterations, "max-iterations", agent.DefaultMaxIterations, "tool-call budget")
	c.Flags().DurationVar(&f.maxTime, "max-time", agent.DefaultMaxWall, "wall-time budget")
	c.Flags().IntVar(&f.maxTokens, "max-tokens", 0, "llm: token budget, input+output (0: unbounded)")
	c.Flags().Float64Var(&f.maxCost, "max-cost", 0, "llm: cost budget in USD, when prices are configured (0: unbounded)")
	c.Flags().Int64Var(&f.seed, "seed", 1, "seed of the sandbox data the agent iterates on")
	c.Flags().StringVar(&f.owner, "owner", "", "metadata.owner of the drafted integration (a person or team)")
	c.Flags().StringVar(&f.llmProvider, "llm-provider", "", "llm: openai (any OpenAI-compatible server) or anthropic; env SPINDLE_LLM_PROVIDER")
	c.Flags().StringVar(&f.llmBaseURL, "llm-base-url", "", "llm: server base URL; env SPINDLE_LLM_BASE_URL")
	c.Flags().StringVar(&f.llmModel, "llm-model", "", "llm: model name; env SPINDLE_LLM_MODEL")
	return c
}

func (a *app) brainFor(f buildFlags) (agent.Brain, error) {
	switch f.brain {
	case "heuristic":
		return &agent.Heuristic{Options: draft.Options{Owner: f.owner}}, nil
	case "llm":
		getenv := func(k string) string {
			switch k {
			case "SPINDLE_LLM_PROVIDER":
				if f.llmProvider != "" {
					return f.llmProvider
				}
			case "SPINDLE_LLM_BASE_URL":
				if f.llmBaseURL != "" {
					return f.llmBaseURL
				}
			case "SPINDLE_LLM_MODEL":
				if f.llmModel != "" {
					return f.llmModel
				}
			}
			return os.Getenv(k)
		}
		cfg, err := llm.ConfigFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		return llm.New(cfg)
	}
	return nil, &exitError{2, fmt.Errorf("--brain %q: want heuristic or llm", f.brain)}
}

func (a *app) build(ctx context.Context, doc string, f buildFlags) error {
	brain, err := a.brainFor(f)
	if err != nil {
		return err
	}
	start := time.Now()
	out, err := agent.Build(ctx, agent.Config{
		Doc: doc, Brain: brain, Seed: f.seed,
		Budget: agent.Budget{MaxIterations: f.maxIterations, MaxWall: f.maxTime, MaxTokens: f.maxTokens, MaxCostUSD: f.maxCost},
		Progress: func(phase, msg string) {
			fmt.Fprintf(a.stderr, "[%5.1fs] %-8s %s\n", time.Since(start).Seconds(), phase, msg)
		},
	})
	if err != nil {
		return buildLoadError(doc, err)
	}
	dir := f.out
	if dir == "" {
		name := "integration"
		if out.Facts != nil && out.Facts.Name != "" {
			name = out.Facts.Name
		}
		dir = filepath.Join("proposals", name)
	}
	if err := out.WriteBundle(dir); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "[%5.1fs] %-8s wrote %s\n", time.Since(start).Seconds(), "bundle", dir)
	// Every agent tool call is audited (boundary: sandbox), with the verdict.
	if err := a.auditBuild(ctx, out); err != nil {
		return fmt.Errorf("the bundle is in %s, but recording the build in the audit log (%s) failed: %w", dir, a.dbPath, err)
	}
	fmt.Fprintf(a.stderr, "[%5.1fs] %-8s %d agent actions recorded in %s\n", time.Since(start).Seconds(), "audit", len(out.Transcript)+1, a.dbPath)
	if a.jsonOut {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*agent.Outcome
			Bundle string `json:"bundle"`
		}{out, dir}); err != nil {
			return err
		}
	} else {
		a.printOutcome(out, dir)
	}
	if !out.Passed {
		return fmt.Errorf("not ready: %s; see %s", firstOf(out.Reason, out.Stopped), filepath.Join(dir, agent.FileReportMD))
	}
	return nil
}

func buildLoadError(doc string, err error) error {
	var le *apisurface.LoadError
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: no such file; give the path or URL of the vendor's API documentation", doc)
	}
	return err
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (a *app) printOutcome(o *agent.Outcome, dir string) {
	w := a.stdout
	verdict := "PASSED"
	if !o.Passed {
		verdict = "NOT READY"
	}
	fmt.Fprintf(w, "%s  %s (%s brain, %d tool calls, %d validations, %.1fs)\n", verdict, o.Doc.Title, o.Brain, o.Usage.Iterations, o.Usage.Validations, o.Usage.Elapsed.Seconds())
	if f := o.Facts; f != nil {
		for _, st := range f.Streams {
			op := st.Operation
			if op == "" {
				op = st.Method + " " + st.Path + " (not in the doc)"
			}
			fmt.Fprintf(w, "  %-28s %-14s %s  [%s]\n", st.Name, st.Emits, op, st.Via)
		}
		for _, sc := range f.Scopes {
			fmt.Fprintf(w, "  scopes (%s): %s\n", sc.Scheme, strings.Join(sc.Scopes, ", "))
		}
	}
	if c := o.Scorecard; c != nil {
		pass, fail, warn := 0, 0, 0
		for _, ch := range c.Checks {
			switch ch.Status {
			case validate.StatusPass:
				pass++
			case validate.StatusFail:
				fail++
				fmt.Fprintf(w, "  FAIL %s %s: %s\n", ch.ID, ch.Stream, ch.Summary)
			case validate.StatusWarn:
				warn++
			}
		}
		fmt.Fprintf(w, "  checks: %d passed, %d failed, %d warnings (seed %d, %d requests)\n", pass, fail, warn, c.Seed, c.Requests)
	}
	for _, q := range o.Questions {
		fmt.Fprintf(w, "  question: %s\n", q)
	}
	fmt.Fprintf(w, "bundle: %s (read %s)\n", dir, filepath.Join(dir, agent.FileReportMD))
}

type validateFlags struct {
	doc      string
	seed     int64
	entities int
	quick    bool
}

func (a *app) validateCmd() *cobra.Command {
	var f validateFlags
	c := &cobra.Command{
		Use:   "validate SPEC --doc DOC",
		Short: "Validate an integration spec in a sandbox generated from the vendor's docs",
		Long: `Builds a sandbox from the vendor's API documentation and runs the spec
against it: lint, documented operations, auth as declared, completeness of
every stream against the sandbox's ground truth (across pages and fan-out),
canonical-schema validity, null rates of mapped fields, relationships, and
(unless --quick) resilience to 429s, 5xx bursts and slow responses and a
schema drift that must fail loudly. Prints the scorecard (--json: as data).

Exit status: 0 when every check passes, 1 when one fails.`,
		Example: `  spindle validate proposals/acme/integration.yaml --doc examples/docs/acme-keys.yaml
  spindle validate okta.yaml --doc ../shared/corpus/okta/management.2024.09.2.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.validate(cmd.Context(), args[0], f)
		},
	}
	c.Flags().StringVar(&f.doc, "doc", "", "the vendor's API documentation (OpenAPI or Swagger file or URL); required")
	c.Flags().Int64Var(&f.seed, "seed", 1, "seed of the sandbox data")
	c.Flags().IntVar(&f.entities, "entities", 0, "records per top-level list (default 25)")
	c.Flags().BoolVar(&f.quick, "quick", false, "baseline checks only: skip the resilience and drift scenarios")
	return c
}

func (a *app) validate(ctx context.Context, specPath string, f validateFlags) error {
	if f.doc == "" {
		return &exitError{2, errors.New("--doc is required: validation generates its sandbox from the vendor's API documentation")}
	}
	y, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "loading %s…\n", f.doc)
	surf, err := apisurface.Load(ctx, f.doc, apisurface.Options{})
	if err != nil {
		if errors.Is(err, apisurface.ErrNotOpenAPI) {
			return fmt.Errorf("%s is not an OpenAPI or Swagger document: a sandbox can only be generated from a machine-readable API description", f.doc)
		}
		return err
	}
	start := time.Now()
	card, err := validate.Run(ctx, specPath, y, surf, validate.Options{Seed: f.seed, Entities: f.entities, Quick: f.quick,
		Progress: func(sc string) { fmt.Fprintf(a.stderr, "[%5.1fs] scenario %s\n", time.Since(start).Seconds(), sc) }})
	if err != nil {
		return err
	}
	if a.jsonOut {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(card); err != nil {
			return err
		}
	} else {
		for _, ch := range card.Checks {
			fmt.Fprintf(a.stdout, "%-5s %-16s %-24s %s\n", strings.ToUpper(ch.Status), ch.ID, ch.Stream, ch.Summary)
			if ch.Status == validate.StatusFail {
				for _, e := range ch.Evidence {
					fmt.Fprintf(a.stdout, "        %s\n", e)
				}
			}
		}
		for _, st := range card.Streams {
			fmt.Fprintf(a.stdout, "stream %-24s %-40s expected %d, fetched %d, matched %d, %d pages\n", st.Name, st.Operation, st.Expected, st.Fetched, st.Matched, st.Pages)
		}
		fmt.Fprintf(a.stdout, "%d requests, %.2fs\n", card.Requests, card.Elapsed.Seconds())
	}
	if !card.Passed {
		return fmt.Errorf("validation failed: %d checks failed", len(card.Failed()))
	}
	return nil
}

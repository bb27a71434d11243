package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

type sandboxFlags struct {
	addr     string
	seed     int64
	entities int
	faults   string
	truth    string
}

func (a *app) sandboxCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a synthetic copy of a vendor API, generated from its docs (loopback only)",
	}
	c.AddCommand(a.sandboxServeCmd())
	return c
}

func (a *app) sandboxServeCmd() *cobra.Command {
	var f sandboxFlags
	c := &cobra.Command{
		Use:   "serve DOC",
		Short: "Serve the sandbox for an API document until interrupted",
		Long: `Loads an API document (OpenAPI 3.x or Swagger 2.0; a file, a multi-file
document's entry point, or a URL) and serves a synthetic copy of the
vendor's API on a loopback address: every GET operation, with synthetic
non-human identities that conform to the documented schemas, the doc's
security schemes enforced with synthetic credentials, and paging exactly as
the doc declares. Nothing in it is real: the credentials it prints start
with sbx_ and work only here.

It prints the base URL, the credentials and the operations served (--json:
one JSON object), then serves until Ctrl-C or SIGTERM. --truth writes the
ground truth (every seeded id per list operation, and per parent for child
collections) as soon as the sandbox is up; it is fixed by the document,
--seed and --entities, so it is complete from the start.

--faults injects failures so validation can prove they are loud:
` + indent(sandbox.FaultSyntax, "  "),
		Example: `  spindle sandbox serve ../shared/corpus/pagerduty/openapiv3.2025-03-24.json
  spindle sandbox serve okta.yaml --seed 7 --entities 40 --truth truth.json
  spindle sandbox serve api.yaml --faults 429,5xx:3,slow:200ms,drift:rename --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.sandboxServe(cmd.Context(), args[0], f)
		},
	}
	c.Flags().StringVar(&f.addr, "addr", sandbox.DefaultAddr, "loopback address to listen on (IP:PORT; port 0 picks a free one)")
	c.Flags().Int64Var(&f.seed, "seed", 1, "seed of the synthetic data and credentials")
	c.Flags().IntVar(&f.entities, "entities", sandbox.DefaultEntities, fmt.Sprintf("records per top-level list operation (1..%d)", sandbox.MaxEntities))
	c.Flags().StringVar(&f.faults, "faults", "", "faults to inject, e.g. 429,5xx:3,slow:200ms,truncate,drift:rename (see above)")
	c.Flags().StringVar(&f.truth, "truth", "", "write the ground truth as JSON to this file")
	return c
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(s, "\n", "\n"+by)
}

// serveInfo is what --json prints once the sandbox is up.
type serveInfo struct {
	Title       string               `json:"title"`
	BaseURL     string               `json:"base_url"`
	Origin      string               `json:"origin"`
	Seed        int64                `json:"seed"`
	Entities    int                  `json:"entities"`
	Note        string               `json:"note"`
	Credentials []sandbox.Credential `json:"credentials"`
	Faults      []string             `json:"faults,omitempty"`
	Operations  []sandbox.Operation  `json:"operations"`
	TruthFile   string               `json:"truth_file,omitempty"`
	Warnings    []apisurface.Warning `json:"warnings,omitempty"`
}

func (a *app) sandboxServe(ctx context.Context, doc string, f sandboxFlags) error {
	// Usage errors first, before the (possibly slow) document load.
	faults, err := sandbox.ParseFaults(f.faults)
	if err != nil {
		return &exitError{2, fmt.Errorf("--faults: %w", err)}
	}
	if f.entities < 1 || f.entities > sandbox.MaxEntities {
		return &exitError{2, fmt.Errorf("--entities %d: want 1..%d", f.entities, sandbox.MaxEntities)}
	}
	if err := sandbox.CheckListenAddr(f.addr); err != nil {
		return &exitError{2, fmt.Errorf("--addr: %w", err)}
	}
	s, err := apisurface.Load(ctx, doc, apisurface.Options{})
	if err != nil {
		return err
	}
	sb, err := sandbox.New(s, sandbox.Options{Seed: f.seed, Entities: f.entities, Faults: faults})
	if err != nil {
		return &exitError{2, err} // a fault naming an operation or field the doc lacks
	}
	srv, err := sb.Start(ctx, f.addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if f.truth != "" {
		if err := writeTruth(sb, f.truth); err != nil {
			return err
		}
	}
	info := serveInfo{
		Title: sb.Title(), BaseURL: srv.URL(), Origin: srv.Origin(), Seed: f.seed, Entities: f.entities,
		Note:        "synthetic data and credentials: valid only against this sandbox",
		Credentials: srv.Credentials(), Operations: sb.Operations(), TruthFile: f.truth, Warnings: s.Warnings,
	}
	for _, ft := range faults {
		info.Faults = append(info.Faults, ft.String())
	}
	if a.jsonOut {
		if err := json.NewEncoder(a.stdout).Encode(info); err != nil {
			return err
		}
	} else {
		printServeInfo(a.stdout, info)
	}
	select {
	case <-ctx.Done():
	case <-srv.Done():
	}
	_ = srv.Close()
	n := len(sb.RequestLog()) + sb.DroppedLogEntries()
	fmt.Fprintf(a.stderr, "sandbox: stopped after %d requests\n", n)
	return nil
}

func printServeInfo(w io.Writer, in serveInfo) {
	title := in.Title
	if title == "" {
		title = "(untitled API)"
	}
	fmt.Fprintf(w, "Sandbox for %s: synthetic data, seed %d, %d entities per list\n", title, in.Seed, in.Entities)
	fmt.Fprintf(w, "Base URL:  %s\n", in.BaseURL)
	if len(in.Credentials) == 0 {
		fmt.Fprintln(w, "Credentials: none (the document declares no security scheme)")
	} else {
		fmt.Fprintln(w, "Synthetic credentials (valid only against this sandbox):")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, c := range in.Credentials {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Scheme, c.Type, credentialHow(c))
		}
		tw.Flush()
	}
	if len(in.Faults) > 0 {
		fmt.Fprintf(w, "Faults:    %s\n", strings.Join(in.Faults, ", "))
	}
	if in.TruthFile != "" {
		fmt.Fprintf(w, "Truth:     %s\n", in.TruthFile)
	}
	if n := len(in.Warnings); n > 0 {
		fmt.Fprintf(w, "Warnings:  %d from the document (see --json)\n", n)
	}
	roles := map[string]int{}
	for _, o := range in.Operations {
		roles[o.Role]++
	}
	fmt.Fprintf(w, "Operations (%d GET: %d lists, %d items, %d objects):\n", len(in.Operations),
		roles[sandbox.RoleList], roles[sandbox.RoleItem], roles[sandbox.RoleObject])
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, o := range in.Operations {
		var detail []string
		if o.Role == sandbox.RoleList {
			detail = append(detail, "paging="+o.Paging)
			if o.RecordsPath != "" {
				detail = append(detail, "records="+o.RecordsPath)
			}
			if o.Kind != "" {
				detail = append(detail, "kind="+string(o.Kind))
			}
			if o.Parent != "" {
				detail = append(detail, "parent="+o.Parent)
			}
		}
		fmt.Fprintf(tw, "  %s\tGET %s\t%s\n", o.Role, o.Path, strings.Join(detail, " "))
	}
	tw.Flush()
	fmt.Fprintln(w, "Serving until interrupted (Ctrl-C).")
}

// credentialHow says how to send a credential, value included: these are
// synthetic, and showing them is the point.
func credentialHow(c sandbox.Credential) string {
	switch c.Type {
	case "apiKey":
		return fmt.Sprintf("%s %s: %s%s", c.In, c.Name, c.Prefix, c.Value)
	case "http":
		if c.HTTPScheme == "basic" {
			return fmt.Sprintf("basic user %s password %s", c.Username, c.Password)
		}
		return fmt.Sprintf("Authorization: %s %s", titleWord(c.HTTPScheme), c.Value)
	case "oauth2", "openIdConnect":
		s := "Authorization: Bearer " + c.AccessToken
		if c.ClientID != "" {
			s += fmt.Sprintf("; or client credentials %s / %s at %s", c.ClientID, c.ClientSecret, c.TokenURL)
		}
		return s
	}
	return c.Note
}

func titleWord(s string) string {
	if s == "" || s == "bearer" {
		return "Bearer"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeTruth writes the ground truth atomically: a reader never sees half
// a file.
func writeTruth(sb *sandbox.Sandbox, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".truth-*.json")
	if err != nil {
		return fmt.Errorf("--truth: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := sb.WriteTruth(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("--truth: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--truth: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--truth: %w", err)
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/prose"
)

// docsShownWarnings is how many warnings the human summary lists.
const docsShownWarnings = 10

func (a *app) docsCmd() *cobra.Command {
	c := &cobra.Command{Use: "docs", Short: "Read vendor API documentation"}
	var timeout time.Duration
	inspect := &cobra.Command{
		Use:   "inspect DOC",
		Short: "Load vendor API docs (OpenAPI, Swagger, or markdown/HTML prose; file or URL) and print what they describe",
		Long: `Loads an OpenAPI 3.0/3.1 or Swagger 2.0 document, JSON or YAML, from a file
(its relative $refs to files beside it are followed) or an http(s) URL (its
$refs on the same origin are followed), and prints the API surface the
agent and the sandbox work from: servers, security schemes, operations and,
for each list operation, the inferred NHI kind, paging style and where the
records are, with confidences.

Cosmetic damage in the document (dangling $refs, a $ref where a string
belongs, circular schemas) is listed as warnings, not refused. --json
prints the whole surface.

A markdown or HTML document is read as prose instead: its sections,
endpoint candidates (method and path), and auth and paging mentions.`,
		Example: `  spindle docs inspect ../shared/corpus/pagerduty/openapiv3.2025-03-24.json
  spindle docs inspect https://example.com/openapi.yaml --json > surface.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return &exitError{2, fmt.Errorf("--timeout %s: want a positive duration such as 2m", timeout)}
			}
			return a.inspectDocs(cmd.Context(), args[0], timeout)
		},
	}
	inspect.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up loading the document (and its references) after this long")
	c.AddCommand(inspect)
	return c
}

func (a *app) inspectDocs(ctx context.Context, doc string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Say what is happening only when it takes a while; the goroutine is
	// done before anything else writes to stderr.
	start := time.Now()
	done := make(chan struct{})
	slow := make(chan bool, 1)
	go func() {
		select {
		case <-time.After(300 * time.Millisecond):
			fmt.Fprintf(a.stderr, "loading %s…\n", doc)
			slow <- true
		case <-done:
			slow <- false
		}
	}()
	s, err := apisurface.Load(ctx, doc, apisurface.Options{})
	close(done)
	wasSlow := <-slow
	if err != nil {
		if errors.Is(err, apisurface.ErrNotOpenAPI) {
			return a.inspectProse(ctx, doc, err)
		}
		return err
	}
	if wasSlow {
		fmt.Fprintf(a.stderr, "read %d files in %.1fs\n", s.Source.Files, time.Since(start).Seconds())
	}
	if a.jsonOut {
		return json.NewEncoder(a.stdout).Encode(s)
	}
	a.printSurface(s)
	return nil
}

// inspectProse reads documentation that is not OpenAPI or Swagger
// (markdown, HTML) with the prose reader: sections, endpoint candidates,
// and auth and paging mentions — the input an LLM brain reads.
func (a *app) inspectProse(ctx context.Context, doc string, cause error) error {
	data, err := readDoc(ctx, doc, prose.MaxInputBytes)
	if err != nil {
		return err
	}
	d, err := prose.Parse(doc, data)
	if err != nil {
		return fmt.Errorf("%w (and it is not OpenAPI or Swagger either: %v)", err, cause)
	}
	if a.jsonOut {
		return json.NewEncoder(a.stdout).Encode(d)
	}
	w := a.stdout
	fmt.Fprintf(w, "source      %s\n", docsClean(d.Source, 200))
	fmt.Fprintf(w, "format      %s prose (not OpenAPI: an LLM brain reads it; the heuristic brain needs OpenAPI)\n", d.Format)
	fmt.Fprintf(w, "title       %s\n", docsClean(d.Title, 120))
	fmt.Fprintf(w, "sections    %d\n", len(d.Sections))
	fmt.Fprintf(w, "endpoints   %d candidates\n", len(d.Endpoints))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range d.Endpoints {
		fmt.Fprintf(tw, "  %s\t%s\tline %d\t%.2f\n", docsClean(e.Method, 10), docsClean(e.Path, 120), e.Line, e.Confidence)
	}
	tw.Flush()
	for _, group := range []struct {
		name string
		ms   []prose.Mention
	}{{"auth", d.Auth}, {"paging", d.Paging}, {"errors", d.Errors}, {"rate limits", d.RateLimits}, {"servers", d.Servers}} {
		if len(group.ms) == 0 {
			continue
		}
		fmt.Fprintf(w, "%-11s\n", group.name)
		for _, m := range group.ms {
			fmt.Fprintf(w, "  %-26s %-40s line %d  %.2f\n", docsClean(m.Kind, 26), docsClean(m.Detail, 40), m.Line, m.Confidence)
		}
	}
	if len(d.Warnings) > 0 {
		fmt.Fprintf(w, "warnings    %d\n", len(d.Warnings))
		for _, x := range d.Warnings[:min(len(d.Warnings), docsShownWarnings)] {
			fmt.Fprintf(w, "  %s\n", docsClean(x, 200))
		}
	}
	return nil
}

// readDoc reads a file, or fetches an http(s) URL, at most max bytes.
func readDoc(ctx context.Context, doc string, max int64) ([]byte, error) {
	var r io.Reader
	if strings.HasPrefix(doc, "http://") || strings.HasPrefix(doc, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", doc, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", doc, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch %s: %s", doc, resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(doc)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", doc, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes; split it or pass the vendor's OpenAPI document", doc, max)
	}
	return data, nil
}

func (a *app) printSurface(s *apisurface.Surface) {
	w := a.stdout
	files := "files"
	if s.Source.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(w, "source      %s\n", docsClean(s.Source.Location, 200))
	fmt.Fprintf(w, "format      %s, %d %s, sha256 %s\n", s.Source.Format, s.Source.Files, files, s.Source.SHA256)
	fmt.Fprintf(w, "api         %s %s\n", docsClean(s.Title, 80), docsClean(s.Version, 40))
	for i, srv := range s.Servers {
		label := ""
		if i == 0 {
			label = "servers"
		}
		line := docsClean(srv.URL, 200)
		var vars []string
		for _, v := range srv.Variables {
			vs := docsClean(v.Name, 40) + "=" + docsClean(v.Default, 60)
			if len(v.Enum) > 0 {
				vs += " (" + docsClean(strings.Join(v.Enum, "|"), 80) + ")"
			}
			vars = append(vars, vs)
		}
		if len(vars) > 0 {
			line += "  " + strings.Join(vars, ", ")
		}
		fmt.Fprintf(w, "%-11s %s\n", label, line)
	}
	if len(s.Servers) == 0 {
		fmt.Fprintf(w, "servers     none declared\n")
	}
	width := 0
	for _, sc := range s.SecuritySchemes {
		width = max(width, len([]rune(docsClean(sc.Name, 40))))
	}
	for i, sc := range s.SecuritySchemes {
		label := ""
		if i == 0 {
			label = "security"
		}
		fmt.Fprintf(w, "%-11s %-*s  %s\n", label, width, docsClean(sc.Name, 40), docsScheme(sc))
	}
	if len(s.SecuritySchemes) == 0 {
		fmt.Fprintf(w, "security    none declared\n")
	}

	var lists []apisurface.Operation
	gets := 0
	for _, op := range s.Operations {
		if op.Method == "GET" {
			gets++
		}
		if op.List != nil {
			lists = append(lists, op)
		}
	}
	fmt.Fprintf(w, "operations  %d (%d GET), %d list operations\n", len(s.Operations), gets, len(lists))
	if len(lists) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tPATH\tKIND\tPAGING\tRECORDS\tCONFIDENCE kind/paging/records")
		for _, op := range lists {
			l := op.List
			kind := string(l.Kind)
			if kind == "" {
				kind = "-"
			}
			records := l.RecordsPath
			if records == "" {
				records = "(body)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f/%.2f/%.2f\n", op.Method, docsClean(op.Path, 120), kind,
				docsClean(l.Paging.Style, 20), docsClean(records, 60), l.KindConf.Confidence, l.Paging.Inference.Confidence, l.RecordsConf.Confidence)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nwarnings    %d\n", len(s.Warnings))
	for i, wn := range s.Warnings {
		if i == docsShownWarnings {
			fmt.Fprintf(w, "  … and %d more (--json lists them all)\n", len(s.Warnings)-docsShownWarnings)
			break
		}
		loc := ""
		if wn.Location != "" {
			loc = " " + docsClean(wn.Location, 100) + ":"
		}
		fmt.Fprintf(w, "  %s%s %s\n", wn.Code, loc, docsClean(wn.Message, 200))
	}
}

// docsScheme describes a security scheme in one line.
func docsScheme(sc apisurface.SecurityScheme) string {
	var b strings.Builder
	b.WriteString(docsClean(sc.Type, 20))
	switch sc.Type {
	case "apiKey":
		fmt.Fprintf(&b, " in %s %s", docsClean(sc.In, 10), docsClean(sc.ParamName, 60))
	case "http":
		b.WriteString(" " + docsClean(sc.Scheme, 20))
		if sc.BearerFormat != "" {
			b.WriteString(" (" + docsClean(sc.BearerFormat, 20) + ")")
		}
	case "oauth2":
		for i, f := range sc.Flows {
			sep := " "
			if i > 0 {
				sep = ", "
			}
			fmt.Fprintf(&b, "%s%s (%d scopes)", sep, docsClean(f.Type, 30), len(f.Scopes))
		}
	case "openIdConnect":
		b.WriteString(" " + docsClean(sc.OpenIDURL, 120))
	}
	if sc.Prefix != "" {
		fmt.Fprintf(&b, ", prefix %q (inferred)", docsClean(sc.Prefix, 40))
	}
	return b.String()
}

// docsClean makes document text safe for a terminal: documents are
// untrusted, and control characters (escape sequences) must not reach it.
// Long text is cut to max runes.
func docsClean(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\n' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r):
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

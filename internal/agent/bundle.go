package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spindlehq/spindle/internal/validate"
)

// Bundle file names.
const (
	FileSpec       = "integration.yaml"
	FileReportJSON = "report.json"
	FileReportMD   = "report.md"
	FileTranscript = "transcript.jsonl"
)

// reportJSON is report.json: the outcome with the spec's digest.
type reportJSON struct {
	*Outcome
	SpecSHA256 string `json:"spec_sha256,omitempty"`
}

// WriteBundle writes the proposal bundle into dir (created if missing):
// integration.yaml, report.json, report.md and transcript.jsonl. Files
// are written whole to a temporary name and renamed, so a reader never
// sees half a bundle file.
func (o *Outcome) WriteBundle(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the bundle directory: %w", err)
	}
	rj := reportJSON{Outcome: o}
	if len(o.SpecYAML) > 0 {
		rj.SpecSHA256 = sha256Hex(o.SpecYAML)
		if err := writeFile(dir, FileSpec, o.SpecYAML); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(rj, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(dir, FileReportJSON, append(b, '\n')); err != nil {
		return err
	}
	if err := writeFile(dir, FileReportMD, []byte(o.Markdown())); err != nil {
		return err
	}
	var tb strings.Builder
	for _, e := range o.Transcript {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		tb.Write(line)
		tb.WriteByte('\n')
	}
	return writeFile(dir, FileTranscript, []byte(tb.String()))
}

func writeFile(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	w := bufio.NewWriter(f)
	_, werr := w.Write(data)
	if werr == nil {
		werr = w.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", name, werr)
	}
	return nil
}

// Markdown is report.md: the proposal as a reviewer reads it.
func (o *Outcome) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	name := "integration"
	if o.Facts != nil && o.Facts.Name != "" {
		name = o.Facts.Name
	}
	p("# Proposal: %s\n\n", mdText(name))
	if o.Passed {
		p("**Validation passed** in a fresh sandbox with a seed the agent never saw. This is a proposal: a person must review and approve it before it runs against the vendor.\n\n")
	} else {
		p("**Not ready: %s.**\n\n", mdText(firstNonEmpty(o.Reason, o.Stopped)))
	}
	p("| | |\n|---|---|\n")
	p("| Documentation | `%s` |\n", mdCode(o.Doc.Location))
	p("| Doc title | %s %s |\n", mdText(o.Doc.Title), mdText(o.Doc.Version))
	p("| Doc SHA-256 | `%s` |\n", o.Doc.SHA256)
	p("| Doc format | %s |\n", mdText(o.Doc.Format))
	if len(o.SpecYAML) > 0 {
		p("| Spec SHA-256 | `%s` |\n", sha256Hex(o.SpecYAML))
	}
	p("| Built by | %s brain; %s |\n", mdText(o.Brain), mdText(o.Stopped))
	p("| Spent | %d tool calls, %d validations, %.1f s", o.Usage.Iterations, o.Usage.Validations, o.Usage.Elapsed.Seconds())
	if o.Usage.InputTokens+o.Usage.OutputTokens > 0 {
		p(", %d+%d tokens", o.Usage.InputTokens, o.Usage.OutputTokens)
	}
	if o.Usage.CostUSD > 0 {
		p(", $%.4f", o.Usage.CostUSD)
	}
	p(" |\n\n")

	if f := o.Facts; f != nil {
		p("## What it reads\n\n")
		p("| stream | endpoint | emits | via | paging | records |\n|---|---|---|---|---|---|\n")
		for _, st := range f.Streams {
			op := st.Operation
			if op == "" {
				op = st.Method + " " + st.Path + " (not in the doc!)"
			}
			p("| %s | `%s` | %s | %s | %s | `%s` |\n", mdText(st.Name), mdCode(op), mdText(st.Emits), mdText(st.Via), mdText(st.Paging), mdCode(st.Records))
		}
		p("\nHosts contacted: %s. Every request is a read.\n\n", mdList(f.Hosts))

		p("## Credential and least-privilege scopes\n\n")
		a := f.Auth
		switch a.Type {
		case "none":
			p("The integration sends **no credential**.\n\n")
		default:
			p("Auth: `%s`", a.Type)
			if a.Header != "" {
				p(" in header `%s`", mdCode(a.Header))
			}
			if a.Prefix != "" {
				p(" with prefix `%s`", mdCode(a.Prefix))
			}
			if a.DocScheme != "" {
				p(" (the doc's `%s` scheme)", mdCode(a.DocScheme))
			}
			p(". Provision a credential named `%s` in the vault; the agent never saw one.\n\n", mdCode(a.Credential))
		}
		if len(f.Scopes) == 0 {
			p("The doc declares no scopes for these operations: grant the credential read-only access to exactly the endpoints above.\n\n")
		}
		for _, sc := range f.Scopes {
			p("Scheme `%s` needs, for exactly these operations: %s.\n\n", mdCode(sc.Scheme), mdList(sc.Scopes))
			for _, op := range sortedKeys(sc.ByOperation) {
				p("- `%s`: %s\n", mdCode(op), mdList(sc.ByOperation[op]))
			}
			p("\n")
		}

		p("## Not covered\n\n")
		if len(f.NotCovered) == 0 {
			p("Every list operation the doc describes as holding non-human identities is read.\n\n")
		} else {
			p("List operations that look like non-human identities but are not read (the heuristic keeps to the most relevant; ask for more if needed):\n\n")
			for i, nc := range f.NotCovered {
				if i == 30 {
					p("- … and %d more\n", len(f.NotCovered)-30)
					break
				}
				p("- `%s`\n", mdCode(nc))
			}
			p("\n")
		}
	}

	if d := o.Draft; d != nil {
		p("## How the draft was chosen\n\n")
		p("| operation | kind | read by | skipped because |\n|---|---|---|---|\n")
		for _, c := range d.Coverage {
			by := c.Stream
			if c.Via != "" && by != "" {
				by += " (" + c.Via + ")"
			}
			p("| `%s` | %s | %s | %s |\n", mdCode(c.Operation), mdText(c.Kind), mdText(by), mdText(c.Skipped))
		}
		p("\n| decision | choice | confidence | evidence |\n|---|---|---|---|\n")
		for _, dec := range d.Decisions {
			ev := dec.Evidence
			if len(ev) > 3 {
				ev = ev[:3]
			}
			p("| %s | %s | %.2f | %s |\n", mdText(dec.Topic), mdText(dec.Choice), dec.Confidence, mdText(strings.Join(ev, "; ")))
		}
		p("\n")
	}
	if len(o.Questions) > 0 {
		p("## Questions for the reviewer\n\n")
		for _, q := range o.Questions {
			p("- %s\n", mdText(q))
		}
		p("\n")
	}
	if len(o.Rejections) > 0 {
		p("## Refused by the policy lint during the build\n\n")
		p("The agent's drafts tried these and the policy lint refused them (a hostile doc, or a mistake). None is in the final spec unless the lint section below says so.\n\n")
		for _, r := range o.Rejections {
			p("- %s\n", mdText(r))
		}
		p("\n")
	}
	if lintErrs := countErrors(o.Lint); lintErrs > 0 {
		p("## Lint errors in the final spec\n\n")
		for _, f := range o.Lint {
			if f.Level == "error" {
				p("- line %d: %s %s\n", f.Line, f.Rule, mdText(f.Message))
			}
		}
		p("\n")
	}

	if c := o.Scorecard; c != nil {
		p("## Scorecard (seed %d, %d requests, %.2f s)\n\n", c.Seed, c.Requests, c.Elapsed.Seconds())
		p("| check | stream | status | summary |\n|---|---|---|---|\n")
		for _, ch := range c.Checks {
			p("| %s | %s | %s | %s |\n", ch.ID, mdText(ch.Stream), statusMark(ch.Status), mdText(ch.Summary))
		}
		p("\n| stream | operation | expected | fetched | matched | pages |\n|---|---|---|---|---|---|\n")
		for _, st := range c.Streams {
			p("| %s | `%s` | %d | %d | %d | %d |\n", mdText(st.Name), mdCode(st.Operation), st.Expected, st.Fetched, st.Matched, st.Pages)
		}
		p("\n")
		var failed []validate.Check
		for _, ch := range c.Checks {
			if ch.Status == validate.StatusFail || ch.Status == validate.StatusWarn {
				failed = append(failed, ch)
			}
		}
		if len(failed) > 0 {
			p("### Evidence\n\n")
			for _, ch := range failed {
				p("**%s %s** (%s): %s\n\n", ch.ID, mdText(ch.Stream), ch.Status, mdText(ch.Summary))
				for _, e := range ch.Evidence {
					p("    %s\n", strings.ReplaceAll(e, "\n", " "))
				}
				p("\n")
			}
		}
	}
	if o.Notes != "" {
		p("## Agent's notes\n\n%s\n\n", quote(o.Notes))
	}
	p("## Files\n\n`%s` (the spec), `%s` (this scorecard as data), `%s` (every tool call the agent made).\n", FileSpec, FileReportJSON, FileTranscript)
	return b.String()
}

func countErrors(fs []findingView) int {
	n := 0
	for _, f := range fs {
		if f.Level == "error" {
			n++
		}
	}
	return n
}

func statusMark(s string) string {
	switch s {
	case validate.StatusPass:
		return "pass"
	case validate.StatusFail:
		return "**FAIL**"
	case validate.StatusWarn:
		return "warn"
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// mdText keeps doc- and model-supplied text from breaking the report's
// tables or injecting markup: it is shown, never interpreted.
func mdText(s string) string {
	s = oneLine(s)
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "`", "'", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s)
}

func mdList(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + mdCode(x) + "`"
	}
	return strings.Join(out, ", ")
}

func quote(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = "> " + mdText(l)
	}
	return strings.Join(lines, "\n")
}

package prose

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// Hostile and odd input: bounded, never a panic, nothing lost silently.

func mustParse(t *testing.T, source, doc string) *Doc {
	t.Helper()
	d, err := Parse(source, []byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", source, err)
	}
	return d
}

func hasWarning(d *Doc, prefix string) bool {
	for _, w := range d.Warnings {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

func TestDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
	}{
		{"quotes", strings.Repeat(">", 200_000) + " GET /v1/deep\n"},
		{"bullets", strings.Repeat("- ", 100_000) + "GET /v1/deep\n"},
		{"ordered", strings.Repeat("1. ", 60_000) + "GET /v1/deep\n"},
		{"mixed", strings.Repeat("> - ", 50_000) + "GET /v1/deep\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.name+".md", tc.doc)
			if !hasWarning(d, "markdown: 1 line(s) nested past column 96 were read flat") {
				t.Errorf("warnings %q", d.Warnings)
			}
			// The flattened markers leave an indented code line.
			diff(t, "endpoints", endpointLines(d), []string{"GET /v1/deep @preamble:1 0.90"})
		})
	}
	var sb strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&sb, "%s- item %d\n", strings.Repeat("  ", i), i)
	}
	d := mustParse(t, "indent.md", sb.String())
	if len(d.Sections) != 1 || !strings.Contains(d.Sections[0].Text, "item 2999") {
		t.Errorf("indented list: %d sections, text lost", len(d.Sections))
	}
	html := strings.Repeat("<div><span>", 100_000) + "<p>GET /v1/deep</p>"
	d = mustParse(t, "deep.html", html)
	diff(t, "html endpoints", endpointLines(d), []string{"GET /v1/deep @preamble:1 0.60"})
}

// TestWideTable: a wide header over many short rows costs cells per row
// actually written, at most maxTableColumns.
func TestWideTable(t *testing.T) {
	head := "|" + strings.Repeat(" c |", 5000) + "\n|" + strings.Repeat("---|", 5000) + "\n"
	src := []byte(head + strings.Repeat("x\n", 100_000))
	rows := 0
	readMarkdown(src, newLineIndex(src), func(b block) {
		if b.kind != kindRow {
			t.Fatalf("block %q is not a row", b.text)
		}
		if rows == 0 && len(b.cells) != maxTableColumns {
			t.Errorf("header has %d cells, want %d", len(b.cells), maxTableColumns)
		}
		if rows > 0 && len(b.cells) != 1 {
			t.Errorf("row %d has %d cells", rows, len(b.cells))
		}
		rows++
	})
	if rows != 100_001 {
		t.Errorf("%d rows", rows)
	}
	html := []byte("<table><tr>" + strings.Repeat("<td>c", 5000) + "</table>")
	readHTML(html, 1, false, func(b block) {
		if len(b.cells) != maxTableColumns {
			t.Errorf("html row has %d cells, want %d", len(b.cells), maxTableColumns)
		}
	})
}

func TestManySections(t *testing.T) {
	d := mustParse(t, "many.md", strings.Repeat("# Part\n\ntext\n\n", maxSections+10))
	if len(d.Sections) != maxSections {
		t.Errorf("%d sections, want %d", len(d.Sections), maxSections)
	}
	if !hasWarning(d, fmt.Sprintf("over %d sections", maxSections)) {
		t.Errorf("warnings %q", d.Warnings)
	}
	last := d.Sections[len(d.Sections)-1]
	if last.ID != fmt.Sprintf("part-%d", maxSections) || strings.Count(last.Text, "Part") != 10 {
		t.Errorf("last section %s holds %q", last.ID, last.Text)
	}
}

// TestLongDocument: a document parsed in many chunks reads as one: line
// numbers, sections and code blocks hold across the cuts.
func TestLongDocument(t *testing.T) {
	var sb strings.Builder
	line := 1
	var want []string
	for i := 0; sb.Len() < 4*chunkMax; i++ {
		fmt.Fprintf(&sb, "## Op %d\n\nSome prose about operation %d, long enough to take a little room on the line.\n\n", i, i)
		line += 4
		fmt.Fprintf(&sb, "- item one\n- item two\n\n  still item two\n\n")
		line += 5
		fmt.Fprintf(&sb, "```\nGET /v1/ops/%d\n```\n\n", i)
		want = append(want, fmt.Sprintf("GET /v1/ops/%d @op-%d:%d 0.90", i, i, line+1))
		line += 4
	}
	// A fence longer than any chunk: cut inside, it stays code.
	sb.WriteString("## Big\n\n```\n")
	line += 3
	for sb.Len() < 7*chunkMax {
		sb.WriteString("x\n\nX\n")
		line += 3
	}
	sb.WriteString("POST /v1/after-the-cut\n```\n")
	want = append(want, fmt.Sprintf("POST /v1/after-the-cut @big:%d 0.90", line))
	d := mustParse(t, "long.md", sb.String())
	diff(t, "endpoints", endpointLines(d), want)
	if !hasWarning(d, "markdown: 1 place(s) with no block boundary") {
		t.Errorf("warnings %q", d.Warnings)
	}
	for _, s := range d.Sections[:len(d.Sections)-1] {
		if !strings.Contains(s.Text, "- item one\n- item two\n\nstill item two") {
			t.Fatalf("%s: list broken: %q", s.ID, s.Text)
		}
	}
}

func TestLineEndsAndHiddenCharacters(t *testing.T) {
	d := mustParse(t, "crlf.md", "# T\r\n\r\nGET /v1/a\r\rGET /v1/b\n")
	diff(t, "crlf", endpointLines(d), []string{"GET /v1/a @t:3 0.60", "GET /v1/b @t:5 0.60"})

	d = mustParse(t, "hidden.md", "Send Author\u200bization: Bear\u200der <token>.\n\nSafe \u202etext\u202c here.\x01")
	diff(t, "hidden", mentionLines(d), []string{"auth: bearer \"Bearer\" [Authorization] @preamble:1 0.80"})
	if got := d.Sections[0].Text; got != "Send Authorization: Bearer <token>.\n\nSafe text here." {
		t.Errorf("text %q", got)
	}

	late := strings.Repeat("word ", 3000) + "\x00 GET /v1/after-nul \xff\xfe end"
	d = mustParse(t, "late.md", late)
	out, _ := json.Marshal(d)
	if !utf8.Valid(out) || strings.Contains(d.Sections[0].Text, "\x00") {
		t.Errorf("invalid text kept")
	}
	diff(t, "late", endpointLines(d), []string{"GET /v1/after-nul @preamble:1 0.60"})
}

func TestHeadings(t *testing.T) {
	long := strings.Repeat("Very long heading ", 40)
	d := mustParse(t, "h.md", "# Part\n\n## Part\n\n### Part 2\n\n## "+long+"\n\n#\n\n## ¿Qué?\n")
	diff(t, "sections", sectionLines(d), []string{
		"part|1|Part|1-1",
		"part-2|2|Part|3-3",
		"part-2-2|3|Part 2|5-5",
		"very-long-heading-very-long-heading-very-long-heading-very-long|2|" + strings.TrimSpace(long[:maxHeadingBytes]) + "|7-7",
		"qué|2|¿Qué?|11-11",
	})
	if p := d.Sections[2].Path; strings.Join(p, "/") != "Part/Part/Part 2" {
		t.Errorf("path %q", p)
	}
}

func TestHTMLEdges(t *testing.T) {
	d := mustParse(t, "script.html", "<html><head><script>GET /v1/x</script></head><body><nav>menu</nav></body></html>")
	if len(d.Sections) != 0 || !hasWarning(d, "no readable text") {
		t.Errorf("sections %v, warnings %q", d.Sections, d.Warnings)
	}
	d = mustParse(t, "md-with-html.md", "# T\n\n<nav>\n\nGET /v1/x\n")
	if !hasWarning(d, "markdown: inline html: <nav> at line 3 is never closed") {
		t.Errorf("warnings %q", d.Warnings)
	}
	d = mustParse(t, "open-script.html", "<p>before</p>\n<script>var x = 1;\n<p>GET /v1/hidden</p>")
	diff(t, "open script", d.Warnings, []string{"html: <script> at line 2 is never closed; all that follows is its content, not read"})
	if len(d.Endpoints) != 0 {
		t.Errorf("script content read: %v", d.Endpoints)
	}
	d = mustParse(t, "title.html", "<html><head><title> The   Title </title></head><body><svg><title>icon</title></svg><p>text</p></body></html>")
	if d.Title != "The Title" {
		t.Errorf("title %q", d.Title)
	}
	d = mustParse(t, "pre.html", "<h2>Req</h2>\n<pre>\nGET /v1/a\n  X-API-Key: k\n</pre>")
	diff(t, "pre", append(endpointLines(d), mentionLines(d)...), []string{
		"GET /v1/a @req:3 0.90",
		"auth: api_key_header \"X-API-Key\" [X-API-Key] @req:4 0.90",
	})
}

func TestFrontMatter(t *testing.T) {
	d := mustParse(t, "fm.md", "---\ntitle: \"Keys API\"\nslug: keys\n---\n\nGET /v1/keys\n")
	if d.Title != "Keys API" {
		t.Errorf("title %q", d.Title)
	}
	diff(t, "endpoints", endpointLines(d), []string{"GET /v1/keys @preamble:6 0.60"})
	d = mustParse(t, "open.md", "---\ntitle: x\n\nno closing line\n")
	if d.Title != "" || !strings.Contains(d.Sections[0].Text, "no closing line") {
		t.Errorf("unclosed front matter: title %q, text %q", d.Title, d.Sections[0].Text)
	}
}

package prose

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: any input gives a document or an error, never a panic (a
// panic recovered inside Parse fails too), the same JSON twice, and
// documents that keep the reader's own promises.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(name, ".html"))
	}
	for _, s := range []string{
		"", "\x00", "# \n", ">>>>> - - 1. x", "| a |\n|---|\n| b |", "[a](<b", "``` \n```", "<pre>\n\n# x",
		"<nav><h1>x</h1>", "<table><tr><td>GET<td>/a", "curl -X", "curl -u", "Authorization: ", "Authorization: Token token=",
		"`a` `` b", "&#xFFFFFF;", "\\", "---\ntitle: x\n---", "<!-- a", "GET https://", "GET {{a}}", "rel=next", "\r\r\n",
		"## GET /a/:b\n\n```\nLink: <x>; rel=\"next\"\n```\n", "* a\n\n  * b\n\n```\nc\n", strings.Repeat("[", 100),
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, asHTML bool) {
		name := "fuzz.md"
		if asHTML {
			name = "fuzz.html"
		}
		d1, err1 := Parse(name, data)
		d2, err2 := Parse(name, data)
		if err1 != nil || err2 != nil {
			if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
				t.Fatalf("errors differ: %v / %v", err1, err2)
			}
			if strings.Contains(err1.Error(), "internal error") {
				t.Fatalf("recovered panic: %v", err1)
			}
			return
		}
		j1, err := json.Marshal(d1)
		if err != nil {
			t.Fatal(err)
		}
		j2, _ := json.Marshal(d2)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("not deterministic")
		}
		if !utf8.Valid(j1) {
			t.Fatalf("invalid UTF-8 in output")
		}
		lines := bytes.Count(data, []byte{'\n'}) + bytes.Count(data, []byte{'\r'}) + 1
		ids := map[string]bool{}
		for _, s := range d1.Sections {
			if ids[s.ID] || s.ID == "" {
				t.Fatalf("section ID %q empty or repeated", s.ID)
			}
			ids[s.ID] = true
			if s.Start < 0 || s.End > lines || (s.Start > 0 && s.End < s.Start) {
				t.Fatalf("section %s spans %d-%d of %d lines", s.ID, s.Start, s.End, lines)
			}
		}
		for _, e := range d1.Endpoints {
			if !strings.HasPrefix(e.Path, "/") || !isMethod(e.Method) || !ids[e.Section] || e.Line < 0 || e.Line > lines {
				t.Fatalf("bad endpoint %+v", e)
			}
		}
		for _, list := range [][]Mention{d1.Auth, d1.Paging, d1.Errors, d1.RateLimits, d1.Servers} {
			for _, m := range list {
				if m.Kind == "" || !ids[m.Section] || m.Line < 0 || m.Line > lines || m.Confidence <= 0 || m.Confidence > 1 {
					t.Fatalf("bad mention %+v", m)
				}
			}
		}
		q := string(data[:min(len(data), 24)])
		for _, h := range d1.Search(q, 5) {
			if !ids[h.Section] {
				t.Fatalf("search hit in unknown section %q", h.Section)
			}
		}
	})
}

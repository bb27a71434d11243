// Package prose reads vendor API documentation written as prose — markdown
// or HTML pages rather than an OpenAPI document — into sections and the
// facts an integration builder needs from them: endpoint candidates
// (method and path template), how to authenticate, how lists page, how
// errors and rate limits are signalled, and which hosts the examples use.
// Every fact carries the section and line it came from, the text it was
// read from, and a confidence.
//
// The build agent reads the result (its "read section" and "search the
// docs" tools call Doc.Section and Doc.Search), so the reader is
// deterministic — the same bytes give the same JSON, byte for byte — and
// treats documents as hostile: input is bounded, nesting is bounded,
// script and style are dropped, nothing is executed or fetched, and the
// text it returns is data to be quoted, never instructions.
package prose

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// MaxInputBytes bounds a document: vendor prose pages are far smaller, and
// a bound keeps a hostile input from exhausting memory.
const MaxInputBytes = 20 << 20

// ErrTooLarge is wrapped by Parse's error for input over MaxInputBytes.
var ErrTooLarge = errors.New("document over the 20 MiB limit")

// Formats Sniff reports and Doc.Format holds.
const (
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
	FormatOpenAPI  = "openapi"
	FormatUnknown  = "unknown"
)

// Doc is a prose document read into sections and extracted facts. Lists
// are in document order (by first mention) and never nil, so JSON shows
// [] rather than null.
type Doc struct {
	Source    string     `json:"source"` // file name or URL given
	Format    string     `json:"format"` // "markdown" | "html"
	Title     string     `json:"title"`
	Sections  []Section  `json:"sections"`
	Endpoints []Endpoint `json:"endpoints"` // de-duplicated by method and path
	Auth      []Mention  `json:"auth"`
	Paging    []Mention  `json:"paging"`
	// Errors: error envelopes other than the HTTP status ("ok_false").
	Errors []Mention `json:"errors"`
	// RateLimits: "retry_after", "rate_limit_headers", "rate" (Detail "100/minute").
	RateLimits []Mention `json:"rate_limits"`
	// Servers: "base_url" (stated as such) and "host" (seen in examples).
	Servers []Mention `json:"servers"`
	// Warnings say where the reader changed or skipped input to stay
	// bounded, so nothing is lost silently.
	Warnings []string `json:"warnings"`
}

// Section is the text under one heading, up to the next heading of any
// level. Text before the first heading is the section "preamble" (level 0).
type Section struct {
	ID      string   `json:"id"` // slug of the heading, unique in the document
	Level   int      `json:"level"`
	Heading string   `json:"heading"`
	Path    []string `json:"path"` // heading trail, this heading last
	// Text is plain text: inline markup dropped, code blocks kept as text,
	// table rows as "cell | cell", list items as "- item".
	Text  string `json:"text"`
	Start int    `json:"start"` // first line (the heading's), 1-based
	End   int    `json:"end"`   // last line with content

	marks []mark // Text offset → source line, for Search
}

// Endpoint is a candidate operation read from the prose.
type Endpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"` // template: "/teams/{team_id}/members/{id}"
	// Host is the scheme and host (or host template) when the evidence
	// gave an absolute URL.
	Host       string  `json:"host,omitempty"`
	Section    string  `json:"section"`
	Line       int     `json:"line"`
	Evidence   string  `json:"evidence"`
	Confidence float64 `json:"confidence"`
}

// Mention is a fact about auth, paging, errors, rate limits or servers.
// Section, Line and Evidence are those of its strongest occurrence.
type Mention struct {
	// Kind — auth: api_key_header, api_key_query, bearer, basic, prefix,
	// oauth2_client_credentials; paging: link_header, cursor, next_url,
	// page_number, offset, token, header.
	Kind string `json:"kind"`
	// Detail: the header name, the prefix exactly as sent ("SSWS ",
	// "Token token="), the token URL, or the names found, comma-separated.
	Detail string `json:"detail"`
	// Names: the header, parameter and field names the mention rests on.
	Names      []string `json:"names"`
	Section    string   `json:"section"`
	Line       int      `json:"line"`
	Evidence   string   `json:"evidence"`
	Confidence float64  `json:"confidence"`
}

// Parse reads a markdown or HTML document. source names it (a file name or
// URL); its extension is a hint when the content alone is ambiguous. An
// OpenAPI document, JSON, binary data, empty input or input over
// MaxInputBytes is an error naming source.
func Parse(source string, data []byte) (doc *Doc, err error) {
	// The parsers underneath are third-party code fed hostile input; a
	// panic there becomes an error for this document, not a crash.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("prose: %s: internal error while reading the document: %v", source, r)
		}
	}()
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("prose: %s: %d bytes: %w (%d bytes)", source, len(data), ErrTooLarge, MaxInputBytes)
	}
	if isBinary(sample(trimBOM(data))) {
		return nil, fmt.Errorf("prose: %s: binary data, not a markdown or HTML document", source)
	}
	src := normalise(data)
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, fmt.Errorf("prose: %s: empty document", source)
	}
	format, err := chooseFormat(source, data)
	if err != nil {
		return nil, err
	}
	doc = &Doc{Source: source, Format: format, Warnings: []string{}}
	s := newSectioner(doc)
	var title string
	var warnings []string
	if format == FormatHTML {
		title, warnings = readHTML(src, 1, false, s.add)
	} else {
		title, warnings = readMarkdown(src, newLineIndex(src), s.add)
	}
	s.finish()
	doc.Warnings = append(warnings, doc.Warnings...)
	if len(doc.Sections) == 0 {
		doc.Warnings = append(doc.Warnings, "no readable text: the document holds only markup, scripts or navigation")
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	// The title: the first level-1 heading, else the declared title (front
	// matter or <title>), else the first heading.
	doc.Title = s.h1
	if doc.Title == "" {
		doc.Title = title
	}
	if doc.Title == "" {
		doc.Title = s.firstHeading
	}
	return doc, nil
}

// chooseFormat decides between markdown and HTML: markup that declares
// itself HTML wins, then the source's extension, then the content.
func chooseFormat(source string, data []byte) (string, error) {
	sniffed := Sniff(data)
	hint := extensionHint(source)
	switch {
	case sniffed == FormatHTML && startsLikeHTMLPage(data):
		return FormatHTML, nil
	case hint != "":
		return hint, nil
	case sniffed == FormatOpenAPI:
		return "", fmt.Errorf("prose: %s: this is an OpenAPI document; read it with the OpenAPI loader (apisurface)", source)
	case sniffed == FormatUnknown:
		return "", fmt.Errorf("prose: %s: not a markdown or HTML document (JSON or unrecognised data)", source)
	}
	return sniffed, nil
}

// extensionHint maps a file name or URL's extension to a format, "" when
// the extension says nothing.
func extensionHint(source string) string {
	if i := strings.IndexAny(source, "?#"); i >= 0 {
		source = source[:i]
	}
	switch strings.ToLower(path.Ext(source)) {
	case ".html", ".htm", ".xhtml":
		return FormatHTML
	case ".md", ".markdown", ".mdown", ".mkd", ".mdx", ".txt", ".text":
		return FormatMarkdown
	}
	return ""
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// sample is the head of the input that binary detection looks at.
func sample(b []byte) []byte {
	if len(b) > 8<<10 {
		b = b[:8<<10]
		// Do not count a rune cut in half at the end as invalid.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	return b
}

// isBinary reports NUL bytes (also UTF-16 text, which is not supported) or
// a high share of invalid UTF-8 and control characters.
func isBinary(b []byte) bool {
	bad, total := 0, 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		total++
		switch {
		case r == 0:
			return true
		case r == utf8.RuneError && size == 1:
			bad++
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' && r != '\v':
			bad++
		case r == 0x7f:
			bad++
		}
	}
	return total > 0 && bad*10 > total
}

// normalise returns valid UTF-8 with "\n" line ends, control characters
// as spaces, and no invisible formatting characters (zero-width, bidi
// overrides): those can hide text from a human reviewer or split a
// keyword so a matcher misses it. Line structure is kept, so line numbers
// still match the original file.
func normalise(data []byte) []byte {
	data = trimBOM(data)
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			out = utf8.AppendRune(out, utf8.RuneError)
		case r == '\r':
			if i < len(data) && data[i] == '\n' {
				continue
			}
			out = append(out, '\n')
		case r == '\n' || r == '\t':
			out = append(out, byte(r))
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			out = append(out, ' ')
		case invisible(r):
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

func invisible(r rune) bool {
	return (r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) ||
		(r >= 0x2060 && r <= 0x2064) || (r >= 0x2066 && r <= 0x2069) || r == 0xFEFF
}

// lineIndex maps byte offsets of the normalised source to 1-based lines.
type lineIndex []int // offsets where lines start

func newLineIndex(src []byte) lineIndex {
	idx := make(lineIndex, 1, bytes.Count(src, []byte{'\n'})+1)
	for i, c := range src {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (l lineIndex) line(off int) int {
	lo, hi := 0, len(l) // first start > off
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m] <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

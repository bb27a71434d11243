package prose

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/net/html"
)

// The HTML reader uses the tokenizer rather than the tree builder: a flat
// token stream has no nesting to bound, copes with any malformed markup,
// and gives byte offsets (hence line numbers) for free.

// isRawTextTag: elements whose text the tokenizer does not parse as markup;
// none of it is documentation (title is kept as the declared title).
func isRawTextTag(tag string) bool {
	switch tag {
	case "script", "style", "noscript", "iframe", "noembed", "noframes", "xmp", "textarea", "plaintext", "title":
		return true
	}
	return false
}

// isSkippedTag: site chrome and widgets rather than documentation.
func isSkippedTag(tag string) bool {
	switch tag {
	case "nav", "footer", "svg", "math", "template", "object", "canvas", "select", "button":
		return true
	}
	return false
}

// isBlockTag: elements that end the current block of text (nav and
// footer too, for when they are read after all).
func isBlockTag(tag string) bool {
	switch tag {
	case "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
		"dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
		"hgroup", "hr", "html", "li", "main", "nav", "ol", "p", "section", "summary", "ul":
		return true
	}
	return false
}

func headingLevel(name string) int {
	if len(name) == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6' {
		return int(name[1] - '0')
	}
	return 0
}

// readHTML reads HTML (a page, or a markdown HTML block starting at
// firstLine), returning its <title> and warnings. Navigation and widgets
// are skipped; if one is left open, skipping it would drop the rest of the
// document, so a first pass (emitting nothing) checks for that, and then
// the document is read without skipping, with a warning.
func readHTML(src []byte, firstLine int, fragment bool, emit emitFunc) (string, []string) {
	where := "html"
	if fragment {
		where = "markdown: inline html"
	}
	var warnings []string
	r := htmlPass(src, firstLine, true, func(block) {})
	skip := r.open == ""
	if !skip {
		warnings = append(warnings, fmt.Sprintf("%s: <%s> at line %d is never closed; read everything, navigation and widgets included", where, r.open, r.openLine))
	}
	r = htmlPass(src, firstLine, skip, emit)
	if r.raw != "" {
		warnings = append(warnings, fmt.Sprintf("%s: <%s> at line %d is never closed; all that follows is its content, not read", where, r.raw, r.rawLine))
	}
	return r.title, warnings
}

// passResult is what one pass over HTML found besides blocks.
type passResult struct {
	title    string
	open     string // a skipped element left open, and its line
	openLine int
	raw      string // a script, style, title… left open, and its line
	rawLine  int
}

type htmlReader struct {
	emit     emitFunc
	cur      *builder
	kind     blockKind
	level    int
	item     bool
	inRow    bool
	inCell   bool
	cells    []string
	cellFrom int
	pre      int
	preStart bool
	boundary bool // an inline element just opened or closed
}

// htmlPass reads src once. With skip, it drops skipped elements' content
// and reports the first such element left open.
func htmlPass(src []byte, firstLine int, skip bool, emit emitFunc) passResult {
	var r passResult
	h := &htmlReader{cur: newBuilder(), emit: emit}
	z := html.NewTokenizer(bytes.NewReader(src))
	line := firstLine
	depth := 0 // nesting of skipped elements
	titles := 0
	var tb strings.Builder
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		// Count lines before Text and TagName, which unescape in place.
		tokLine := line
		line += bytes.Count(z.Raw(), []byte{'\n'})
		switch tt {
		case html.TextToken:
			switch {
			case r.raw == "title":
				if titles == 1 && tb.Len() < maxHeadingBytes {
					tb.Write(z.Text())
				}
			case r.raw != "" || depth > 0:
			default:
				h.text(string(z.Text()), tokLine)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			selfClosing := tt == html.SelfClosingTagToken
			switch {
			case r.raw != "":
			case skip && isSkippedTag(tag):
				if !selfClosing {
					if depth == 0 {
						r.open, r.openLine = tag, tokLine
					}
					depth++
				}
			case depth > 0:
			case isRawTextTag(tag):
				if !selfClosing {
					r.raw, r.rawLine = tag, tokLine
					if tag == "title" {
						titles++
					}
				}
			default:
				h.start(tag, selfClosing)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case r.raw != "":
				if tag == r.raw {
					r.raw = ""
				}
			case skip && isSkippedTag(tag):
				if depth > 0 {
					depth--
					if depth == 0 {
						r.open = ""
					}
				}
			case depth > 0:
			default:
				h.end(tag)
			}
		}
	}
	h.flush()
	r.title = strings.Join(strings.Fields(tb.String()), " ")
	return r
}

func (h *htmlReader) text(s string, line int) {
	if h.pre > 0 && !h.inRow {
		if h.preStart {
			// HTML drops a newline right after <pre>.
			if rest, ok := strings.CutPrefix(s, "\n"); ok {
				s = rest
				line++
			}
			h.preStart = false
		}
		for i, ln := range strings.Split(s, "\n") {
			if i > 0 {
				h.cur.write("\n", 0)
			}
			h.cur.write(ln, line+i)
		}
		return
	}
	if h.boundary && !h.cur.pending && h.cur.len() > 0 && strings.HasPrefix(s, "/") {
		// A method badge and its path in adjacent elements
		// (<span>GET</span><span>/v1/users</span>) are two words.
		if last := h.cur.sb.String()[h.cur.len()-1]; isAlnum(last) {
			h.cur.pending = true
		}
	}
	h.boundary = false
	h.cur.writeCollapsed(s, line)
}

func (h *htmlReader) start(tag string, selfClosing bool) {
	switch {
	case headingLevel(tag) > 0:
		h.endRow()
		h.flush()
		h.kind, h.level = kindHeading, headingLevel(tag)
	case tag == "tr":
		h.endRow()
		h.flush()
		h.kind, h.inRow = kindRow, true
	case tag == "td" || tag == "th":
		if !h.inRow {
			h.flush()
			h.kind, h.inRow = kindRow, true
		}
		if h.inCell && len(h.cells) >= maxTableColumns-1 {
			h.cur.pending = true // past the bound, the rest is one cell
			break
		}
		h.endCell()
		if len(h.cells) > 0 {
			h.cur.write(" | ", 0)
			h.cur.pending = false
		}
		h.inCell, h.cellFrom = true, h.cur.len()
	case tag == "table" || tag == "thead" || tag == "tbody" || tag == "tfoot":
		h.endRow()
		h.flush()
	case h.inRow:
		// Block structure inside a table cell is only spacing.
		switch tag {
		case "code", "pre":
			h.cur.openSpan()
		case "br", "p", "div", "li":
			h.cur.pending = true
		default:
			h.boundary = true
		}
	case tag == "pre":
		h.flush()
		if !selfClosing {
			h.kind = kindCode
			h.pre++
			h.preStart = true
		}
	case tag == "code":
		if h.pre == 0 {
			h.cur.openSpan()
		}
	case tag == "br":
		if h.pre > 0 {
			h.cur.write("\n", 0)
		} else {
			h.cur.pending = false
			h.cur.write("\n", 0)
		}
	case tag == "li":
		h.flush()
		h.item = true
	case isBlockTag(tag):
		h.flush()
	default:
		h.boundary = true
	}
}

func (h *htmlReader) end(tag string) {
	switch {
	case headingLevel(tag) > 0:
		if h.kind == kindHeading {
			h.flush()
		}
	case tag == "td" || tag == "th":
		h.endCell()
	case tag == "tr" || tag == "table" || tag == "thead" || tag == "tbody" || tag == "tfoot":
		h.endRow()
	case h.inRow:
		switch tag {
		case "code", "pre":
			h.cur.closeSpan()
		default:
			h.boundary = true
		}
	case tag == "pre":
		if h.pre > 0 {
			h.pre--
			if h.pre == 0 {
				h.flush()
			}
		}
	case tag == "code":
		if h.pre == 0 {
			h.cur.closeSpan()
		}
		h.boundary = true
	case isBlockTag(tag):
		h.flush()
	default:
		h.boundary = true
	}
}

func (h *htmlReader) endCell() {
	if h.inCell {
		h.cur.closeSpan()
		h.cells = append(h.cells, strings.TrimSpace(h.cur.sb.String()[h.cellFrom:]))
		h.inCell = false
	}
}

func (h *htmlReader) endRow() {
	if h.inRow {
		h.endCell()
		h.flush()
	}
}

// flush ends the current block, emitting it if it holds text.
func (h *htmlReader) flush() {
	kind := h.kind
	if h.inRow {
		h.endCell()
		kind = kindRow
	}
	b, ok := h.cur.block(kind)
	if ok {
		switch kind {
		case kindHeading:
			b.level = h.level
		case kindRow:
			b.cells = h.cells
		case kindPara:
			if h.item {
				b = prefixed(b, "- ")
				b.item = true
				h.item = false
			}
		}
		h.emit(b)
	}
	h.cur = newBuilder()
	h.cells = nil
	h.inRow, h.inCell = false, false
	h.boundary = false
	if h.pre > 0 {
		h.kind = kindCode
	} else {
		h.kind = kindPara
	}
}

// prefixed puts p before a block's text, shifting its offsets.
func prefixed(b block, p string) block {
	b.text = p + b.text
	for i := range b.marks {
		if i > 0 {
			b.marks[i].off += int32(len(p))
		}
	}
	for i := range b.spans {
		b.spans[i][0] += len(p)
		b.spans[i][1] += len(p)
	}
	return b
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

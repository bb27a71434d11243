package prose

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

const (
	// maxNestColumn bounds block nesting. goldmark walks blocks
	// recursively, and each nested container (quote or list item) starts
	// at least one column right of its parent, so no container marker
	// beyond this column means no nesting deeper than this.
	maxNestColumn = 96
	// maxTableColumns bounds the cells read from one table row.
	maxTableColumns = 64
	// A goldmark syntax tree costs up to a few hundred bytes per input
	// byte on hostile input, so a long document is parsed in chunks of
	// about chunkTarget bytes, cut where a new top-level block must start
	// anyway; a chunk with no such place is cut harder past chunkMax.
	chunkTarget = 128 << 10
	chunkMax    = 256 << 10
)

// readMarkdown parses CommonMark (and GFM tables) into blocks, returning
// the front matter's title and warnings.
func readMarkdown(src []byte, lines lineIndex, emit emitFunc) (title string, warnings []string) {
	src = bytes.Clone(src) // the bounds below edit it in place
	title = stripFrontMatter(src)
	if n := boundNesting(src); n > 0 {
		warnings = append(warnings, fmt.Sprintf("markdown: %d line(s) nested past column %d were read flat", n, maxNestColumn))
	}
	// goldmark reads the block structure only. Inline content is read by
	// renderInline, which stays linear on hostile input, and GFM tables by
	// table: goldmark's extension pads every row to the header's width, so
	// a wide header over many short lines would cost columns × rows nodes.
	p := parser.NewParser(parser.WithBlockParsers(parser.DefaultBlockParsers()...))
	m := mdReader{lines: lines, emit: emit}
	hard := 0
	for _, c := range chunks(src) {
		buf := src[c.start:c.end]
		if c.prefix != "" {
			buf = append([]byte(c.prefix), buf...)
		}
		if c.hard {
			hard++
		}
		m.src, m.base = buf, c.start-len(c.prefix)
		root := p.Parse(text.NewReader(buf))
		walk(root, m.enter)
	}
	if hard > 0 {
		warnings = append(warnings, fmt.Sprintf("markdown: %d place(s) with no block boundary for %d KiB were cut to stay bounded", hard, chunkMax>>10))
	}
	if m.htmlWarnings > 1 {
		m.htmlWarning += fmt.Sprintf(" (and %d more like it)", m.htmlWarnings-1)
	}
	if m.htmlWarning != "" {
		warnings = append(warnings, m.htmlWarning)
	}
	return title, warnings
}

type mdReader struct {
	src   []byte // the chunk being parsed
	base  int    // offset of src[0] in the document
	lines lineIndex
	emit  emitFunc

	htmlWarning  string // the first HTML block's warning
	htmlWarnings int    // and how many there were
}

func (m *mdReader) lineAt(p int) int { return m.lines.line(max(0, m.base+p)) }

// enter handles one block node and reports whether to read its children.
func (m *mdReader) enter(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.Heading:
		t := newBuilder()
		renderInline(m.leafLines(n), t)
		if b, ok := t.block(kindHeading); ok {
			b.level = n.Level
			m.emit(b)
		}
		return false
	case *ast.Paragraph, *ast.TextBlock:
		if m.table(n) {
			return false
		}
		t := newBuilder()
		item := false
		if li, ok := n.Parent().(*ast.ListItem); ok && li.FirstChild() == n {
			item = true
			t.write("- ", m.lineOfNode(n))
		}
		renderInline(m.leafLines(n), t)
		if b, ok := t.block(kindPara); ok {
			b.item = item
			m.emit(b)
		}
		return false
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		t := newBuilder()
		segs := n.Lines()
		for i := 0; i < segs.Len(); i++ {
			seg := segs.At(i)
			t.write(string(seg.Value(m.src)), m.lineAt(seg.Start))
		}
		if b, ok := t.block(kindCode); ok {
			m.emit(b)
		}
		return false
	case *ast.HTMLBlock:
		var raw []byte
		segs := n.Lines()
		for i := 0; i < segs.Len(); i++ {
			seg := segs.At(i)
			raw = append(raw, seg.Value(m.src)...)
		}
		if n.HasClosure() {
			raw = append(raw, n.ClosureLine.Value(m.src)...)
		}
		first := 0
		if segs.Len() > 0 {
			first = m.lineAt(segs.At(0).Start)
		}
		if _, w := readHTML(raw, first, true, m.emit); len(w) > 0 {
			if m.htmlWarnings == 0 {
				m.htmlWarning = w[0]
			}
			m.htmlWarnings++
		}
		return false
	case *ast.ThematicBreak:
		return false
	}
	return true
}

func (m *mdReader) lineOfNode(n ast.Node) int {
	if l := n.Lines(); l != nil && l.Len() > 0 {
		return m.lineAt(l.At(0).Start)
	}
	return 0
}

// table reads a paragraph that holds a GFM table (a header row, a
// delimiter row, body rows; lines before the header stay a paragraph)
// and reports whether it did.
func (m *mdReader) table(n ast.Node) bool {
	segs := n.Lines()
	header := -1
	for i := 1; i < segs.Len() && header < 0; i++ {
		d := segs.At(i)
		delim := bytes.TrimSpace(d.Value(m.src))
		if bytes.IndexByte(delim, '|') < 0 || !isDelimiterRow(delim) {
			continue
		}
		if len(m.cellRanges(segs.At(i-1))) == len(m.cellRanges(d)) {
			header = i - 1
		}
	}
	if header < 0 {
		return false
	}
	if header > 0 {
		t := newBuilder()
		renderInline(m.srcLines(segs.Sliced(0, header)), t)
		if b, ok := t.block(kindPara); ok {
			m.emit(b)
		}
	}
	for i := header; i < segs.Len(); i++ {
		if i == header+1 {
			continue
		}
		line := m.lineAt(segs.At(i).Start)
		t := newBuilder()
		var cells []string
		for k, c := range m.cellRanges(segs.At(i)) {
			if k > 0 {
				t.write(" | ", line)
			}
			from := t.len()
			renderInline([]srcLine{{string(m.src[c[0]:c[1]]), line}}, t)
			cells = append(cells, t.sb.String()[from:])
		}
		if b, ok := t.block(kindRow); ok && strings.Trim(b.text, " |") != "" {
			b.cells = cells
			m.emit(b)
		}
	}
	return true
}

// leafLines: the source lines of a leaf block.
func (m *mdReader) leafLines(n ast.Node) []srcLine {
	return m.srcLines(n.Lines().Sliced(0, n.Lines().Len()))
}

// srcLines: source lines without their line ends.
func (m *mdReader) srcLines(segs []text.Segment) []srcLine {
	out := make([]srcLine, 0, len(segs))
	for _, seg := range segs {
		out = append(out, srcLine{strings.TrimRight(string(seg.Value(m.src)), "\r\n"), m.lineAt(seg.Start)})
	}
	return out
}

// cellRanges splits a table line into cells' byte ranges in m.src:
// unescaped pipes separate cells, outer pipes are optional, cells are
// trimmed; past maxTableColumns the rest is one cell.
func (m *mdReader) cellRanges(seg text.Segment) [][2]int {
	s, e := seg.Start, seg.Stop
	for s < e && isSpace(m.src[s]) {
		s++
	}
	for e > s && isSpace(m.src[e-1]) {
		e--
	}
	if s < e && m.src[s] == '|' {
		s++
	}
	if e > s && m.src[e-1] == '|' && (e-2 < s || m.src[e-2] != '\\') {
		e--
	}
	var out [][2]int
	from := s
	for i := s; i <= e; i++ {
		if i == e || (m.src[i] == '|' && (i == s || m.src[i-1] != '\\') && len(out) < maxTableColumns-1) {
			a, b := from, i
			for a < b && isSpace(m.src[a]) {
				a++
			}
			for b > a && isSpace(m.src[b-1]) {
				b--
			}
			out = append(out, [2]int{a, b})
			from = i + 1
		}
	}
	return out
}

// walk visits root's descendants in document order without recursion, so
// that deeply nested input cannot exhaust the stack. enter reports whether
// to visit a node's children.
func walk(root ast.Node, enter func(ast.Node) bool) {
	n := root.FirstChild()
	for n != nil {
		if enter(n) && n.FirstChild() != nil {
			n = n.FirstChild()
			continue
		}
		for n != nil {
			if next := n.NextSibling(); next != nil {
				n = next
				break
			}
			n = n.Parent()
			if n == root || n == nil {
				n = nil
			}
		}
	}
}

// stripFrontMatter blanks a leading YAML front matter block (keeping its
// newlines, so line numbers hold) and returns its title, if any.
func stripFrontMatter(src []byte) string {
	if !bytes.HasPrefix(src, []byte("---\n")) {
		return ""
	}
	end, title := -1, ""
	for n, off := 0, 4; n < 200 && off < len(src) && end < 0; n++ {
		next := lineEnd(src, off)
		l := strings.TrimRight(string(src[off:next]), " \t")
		if l == "---" || l == "..." {
			end = next
		}
		if v, ok := strings.CutPrefix(l, "title:"); ok && title == "" {
			title = strings.Trim(strings.TrimSpace(v), `"'`)
		}
		off = next + 1
	}
	if end < 0 {
		return ""
	}
	for i := 0; i < end; i++ {
		if src[i] != '\n' {
			src[i] = ' '
		}
	}
	return title
}

// lineEnd is the offset of the newline that ends the line starting at
// off, or len(src).
func lineEnd(src []byte, off int) int {
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(src)
}

// boundNesting blanks container markers (">", list bullets and numbers)
// that start past maxNestColumn, so that goldmark never nests deeper than
// that. It returns the number of lines changed.
func boundNesting(src []byte) int {
	changed := 0
	for off := 0; off < len(src); {
		end := lineEnd(src, off)
		col, hit := 0, false
		for i := off; i < end; {
			c := src[i]
			w := markerWidth(src[i:end])
			switch {
			case c == ' ':
				col++
				i++
				continue
			case c == '\t':
				col += 4 - col%4
				i++
				continue
			case w == 0:
			default:
				if col >= maxNestColumn {
					for j := i; j < i+w; j++ {
						src[j] = ' '
					}
					hit = true
				}
				col += w
				i += w
				continue
			}
			break
		}
		if hit {
			changed++
		}
		off = end + 1
	}
	return changed
}

// markerWidth is the byte length of a container marker at the start of b,
// 0 if there is none.
func markerWidth(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	followedBySpace := func(i int) bool { return i == len(b) || b[i] == ' ' || b[i] == '\t' }
	switch c := b[0]; {
	case c == '>':
		return 1
	case c == '-' || c == '*' || c == '+':
		if followedBySpace(1) {
			return 1
		}
	case c >= '0' && c <= '9':
		i := 0
		for i < len(b) && i < 9 && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i < len(b) && (b[i] == '.' || b[i] == ')') && followedBySpace(i+1) {
			return i + 1
		}
	}
	return 0
}

// isDelimiterRow: a GFM table delimiter row such as "|---|:-:|".
func isDelimiterRow(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '-', '|', ':':
		default:
			return false
		}
	}
	return bytes.IndexByte(line, '-') >= 0
}

type chunk struct {
	start, end int
	prefix     string // re-opens a code fence that a cut went through
	hard       bool   // cut where no new block had to start
}

// chunks cuts a long document where a new top-level block must start: a
// line beginning with a letter or "#" after a blank line, outside fenced
// code and raw HTML blocks. Whatever follows there parses the same alone.
// Without such a place for chunkMax bytes, any blank line will do; past
// twice that, any line, or any byte.
func chunks(src []byte) []chunk {
	if len(src) <= chunkTarget {
		return []chunk{{0, len(src), "", false}}
	}
	var out []chunk
	start, prefix := 0, ""
	var fence []byte  // the open fence's marker run, nil if none
	htmlEnd := ""     // what closes the open raw HTML block, "" if none
	prevBlank := true // the previous line was blank
	cut := func(at int, hard bool) {
		if at <= start {
			return
		}
		out = append(out, chunk{start, at, prefix, hard})
		start, prefix = at, ""
		if fence != nil {
			prefix = string(fence) + "\n"
		}
	}
	for off := 0; off < len(src); {
		end := lineEnd(src, off)
		line := src[off:end]
		open := fence != nil || htmlEnd != ""
		switch size := off - start; {
		case size >= chunkTarget && prevBlank && !open && startsBlock(line):
			cut(off, false)
		case size >= chunkMax && prevBlank && !open:
			cut(off, true)
		case size >= 2*chunkMax:
			cut(off, true)
		}
		for end-start > 2*chunkMax {
			at := start + 2*chunkMax
			for at > start && !utf8.RuneStart(src[at]) {
				at--
			}
			cut(at, true)
		}
		fence, htmlEnd = blockState(line, fence, htmlEnd)
		prevBlank = len(bytes.TrimSpace(line)) == 0
		off = end + 1
	}
	if start < len(src) {
		out = append(out, chunk{start, len(src), prefix, false})
	}
	return out
}

func startsBlock(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	c := line[0]
	return c == '#' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf
}

// blockState follows top-level fenced code and raw HTML blocks (those
// that may hold blank lines) across one line.
func blockState(line, fence []byte, htmlEnd string) ([]byte, string) {
	t := line
	for i := 0; i < 3 && len(t) > 0 && t[0] == ' '; i++ {
		t = t[1:]
	}
	if fence != nil {
		run := 0
		for run < len(t) && t[run] == fence[0] {
			run++
		}
		if run >= len(fence) && len(bytes.TrimSpace(t[run:])) == 0 {
			return nil, ""
		}
		return fence, ""
	}
	if htmlEnd != "" {
		if bytes.Contains(bytes.ToLower(line), []byte(htmlEnd)) {
			return nil, ""
		}
		return nil, htmlEnd
	}
	if len(t) >= 3 && (t[0] == '`' || t[0] == '~') {
		run := 0
		for run < len(t) && t[run] == t[0] {
			run++
		}
		if run >= 3 {
			return bytes.Clone(t[:run]), ""
		}
	}
	if len(t) > 1 && t[0] == '<' {
		low := bytes.ToLower(t)
		for _, o := range [...]struct{ open, end string }{
			{"<pre", "</pre>"}, {"<script", "</script>"}, {"<style", "</style>"}, {"<textarea", "</textarea>"},
			{"<!--", "-->"}, {"<?", "?>"}, {"<![cdata[", "]]>"},
		} {
			if bytes.HasPrefix(low, []byte(o.open)) {
				if bytes.Contains(low[len(o.open):], []byte(o.end)) {
					return nil, ""
				}
				return nil, o.end
			}
		}
	}
	return nil, ""
}

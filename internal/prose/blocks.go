package prose

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Both readers turn a document into the same stream of flat blocks
// (headings, paragraphs, code, table rows), so that sectioning and
// extraction are written once and behave alike for markdown and HTML.

type blockKind int

const (
	kindPara    blockKind = iota // paragraph or list item
	kindHeading                  // level 1–6
	kindCode                     // code block: every character is code
	kindRow                      // table row: cells joined by " | "
)

// mark says that text from byte offset off on comes from source line
// line. int32 halves the cost of a mark per line on long documents; input
// is far below 2 GiB.
type mark struct{ off, line int32 }

type block struct {
	kind  blockKind
	level int // heading level
	text  string
	marks []mark   // ascending offsets; the first is at 0
	spans [][2]int // inline code ranges [start, end) in text
	cells []string // a row's cells
	item  bool     // a list item
}

// lineAt is the source line of a text offset.
func (b *block) lineAt(off int) int { return lineOf(b.marks, off) }

// end is the block's last source line: that of its last mark, as every
// source line that contributes text is marked.
func (b *block) end() int {
	if len(b.marks) == 0 {
		return 0
	}
	return int(b.marks[len(b.marks)-1].line)
}

// inSpan reports whether text[start:end] lies inside one inline code span.
func (b *block) inSpan(start, end int) bool {
	i := lowerBound(len(b.spans), func(i int) bool { return b.spans[i][1] >= end })
	return i < len(b.spans) && b.spans[i][0] <= start
}

func lineOf(marks []mark, off int) int {
	i := lowerBound(len(marks), func(i int) bool { return int(marks[i].off) > off })
	if i == 0 {
		if len(marks) == 0 {
			return 0
		}
		return int(marks[0].line)
	}
	return int(marks[i-1].line)
}

// lowerBound is the first i in [0, n) with pred(i), n if none; pred must be
// monotone.
func lowerBound(n int, pred func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pred(m) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// builder accumulates one block's text with its line marks and code spans.
type builder struct {
	sb        strings.Builder
	marks     []mark
	spans     [][2]int
	spanStart int // -1 when not inside a span
	pending   bool
}

func newBuilder() *builder { return &builder{spanStart: -1} }

func (t *builder) len() int { return t.sb.Len() }

// write appends s as coming from line (0 = unknown, keep the last mark).
func (t *builder) write(s string, line int) {
	if s == "" {
		t.markLine(line) // an empty line of code still counts
		return
	}
	if t.pending {
		t.pending = false
		if t.sb.Len() > 0 {
			t.sb.WriteByte(' ')
		}
	}
	t.markLine(line)
	t.sb.WriteString(s)
}

func (t *builder) markLine(line int) {
	if line <= 0 {
		return
	}
	if n := len(t.marks); n == 0 || int(t.marks[n-1].line) != line {
		if n > 0 && int(t.marks[n-1].off) == t.sb.Len() {
			t.marks[n-1].line = int32(line)
			return
		}
		t.marks = append(t.marks, mark{int32(t.sb.Len()), int32(line)})
	}
}

// writeCollapsed appends HTML-style text: whitespace runs become one
// space, and none leads a block.
func (t *builder) writeCollapsed(s string, line int) {
	lead := len(s) > 0 && isSpace(s[0])
	trail := len(s) > 0 && isSpace(s[len(s)-1])
	f := strings.Fields(s)
	if len(f) == 0 {
		if lead {
			t.pending = true
		}
		return
	}
	if lead {
		t.pending = true
	}
	t.write(strings.Join(f, " "), line)
	t.pending = trail
}

func (t *builder) openSpan() {
	if t.spanStart < 0 {
		if t.pending && t.sb.Len() > 0 {
			t.pending = false
			t.sb.WriteByte(' ')
		}
		t.spanStart = t.sb.Len()
	}
}

func (t *builder) closeSpan() {
	if t.spanStart >= 0 {
		if t.sb.Len() > t.spanStart {
			t.spans = append(t.spans, [2]int{t.spanStart, t.sb.Len()})
		}
		t.spanStart = -1
	}
}

// block returns the accumulated block, trailing whitespace trimmed, and
// false when it holds no text.
func (t *builder) block(kind blockKind) (block, bool) {
	t.closeSpan()
	text := strings.TrimRightFunc(t.sb.String(), unicode.IsSpace)
	lead := len(text) - len(strings.TrimLeftFunc(text, unicode.IsSpace))
	if kind != kindCode && lead > 0 {
		// Shift marks and spans with the trimmed lead.
		text = text[lead:]
		for i := range t.marks {
			t.marks[i].off = max(0, t.marks[i].off-int32(lead))
		}
		for i := range t.spans {
			t.spans[i][0] = max(0, t.spans[i][0]-lead)
			t.spans[i][1] = max(0, t.spans[i][1]-lead)
		}
	}
	if strings.TrimSpace(text) == "" {
		return block{}, false
	}
	marks := t.marks
	for len(marks) > 1 && int(marks[len(marks)-1].off) >= len(text) {
		marks = marks[:len(marks)-1] // lines left blank at the end
	}
	b := block{kind: kind, text: text, marks: marks, spans: t.spans}
	if len(b.marks) > 0 {
		b.marks[0].off = 0
	}
	return b, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '\v'
}

// emitFunc receives a reader's blocks in document order. Readers stream
// them so that memory holds sections, not every block of a large page.
type emitFunc func(block)

// maxSections bounds the sections of one document; past it, headings are
// read as text of the last section (with a warning).
const maxSections = 50_000

const (
	maxHeadingBytes = 300
	maxSlugBytes    = 64
)

// sectioner cuts the stream of blocks into sections at each heading and
// hands each block, with its section, to the extractor.
type sectioner struct {
	doc    *Doc
	x      *extractor
	used   map[string]int // section IDs taken
	trail  []string       // headings above the current one
	levels []int
	cur    *Section
	text   strings.Builder
	prev   block // the previous block, for joining rows and list items
	count  int   // sections started
	capped bool

	h1, firstHeading string // for the title
}

func newSectioner(doc *Doc) *sectioner {
	doc.Sections = []Section{}
	return &sectioner{doc: doc, x: newExtractor(doc), used: map[string]int{}}
}

func (s *sectioner) add(b block) {
	if b.kind == kindHeading {
		b.text = clip(strings.Join(strings.Fields(b.text), " "), maxHeadingBytes)
		if s.count >= maxSections {
			if !s.capped {
				s.capped = true
				s.doc.Warnings = append(s.doc.Warnings, fmt.Sprintf("over %d sections: later headings are read as text", maxSections))
			}
			b.kind = kindPara
		}
	}
	if b.kind == kindHeading {
		s.heading(b)
	} else {
		s.body(b)
	}
	s.x.block(&b)
	s.prev = b
}

func (s *sectioner) heading(b block) {
	s.finish()
	if b.level == 1 && s.h1 == "" {
		s.h1 = b.text
	}
	if s.firstHeading == "" {
		s.firstHeading = b.text
	}
	for len(s.levels) > 0 && s.levels[len(s.levels)-1] >= b.level {
		s.levels, s.trail = s.levels[:len(s.levels)-1], s.trail[:len(s.trail)-1]
	}
	s.levels, s.trail = append(s.levels, b.level), append(s.trail, b.text)
	s.start(&Section{ID: uniqueID(slug(b.text), s.used), Level: b.level, Heading: b.text,
		Path: slices.Clone(s.trail), Start: b.lineAt(0), End: b.end()})
}

func (s *sectioner) body(b block) {
	if s.cur == nil {
		s.start(&Section{ID: uniqueID("preamble", s.used), Path: []string{}, Start: b.lineAt(0)})
	}
	if s.text.Len() > 0 {
		// Rows of one table and items of one list stay on adjacent lines.
		if (b.item && s.prev.item) || (b.kind == kindRow && s.prev.kind == kindRow) {
			s.text.WriteByte('\n')
		} else {
			s.text.WriteString("\n\n")
		}
	}
	base := s.text.Len()
	for _, m := range b.marks {
		s.cur.marks = append(s.cur.marks, mark{int32(base) + m.off, m.line})
	}
	s.text.WriteString(b.text)
	s.cur.End = max(s.cur.End, b.end())
}

func (s *sectioner) start(sec *Section) {
	s.count++
	s.cur = sec
	s.x.startSection(sec.ID)
}

// finish closes the current section.
func (s *sectioner) finish() {
	if s.cur == nil {
		return
	}
	s.cur.Text = s.text.String()
	s.text.Reset()
	s.x.endSection(s.cur)
	s.doc.Sections = append(s.doc.Sections, *s.cur)
	s.cur = nil
}

// slug makes a section ID the way doc sites make anchors: lower-case
// letters and digits, other runs as "-".
func slug(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			dash = true
			continue
		}
		sep := dash && sb.Len() > 0
		dash = false
		if n := sb.Len() + utf8.RuneLen(r); n > maxSlugBytes || (sep && n+1 > maxSlugBytes) {
			break
		}
		if sep {
			sb.WriteByte('-')
		}
		sb.WriteRune(r)
	}
	if sb.Len() == 0 {
		return "section"
	}
	return sb.String()
}

// uniqueID returns id, or id-2, id-3, … if taken. used maps each ID to
// the last suffix tried for it, so a thousand equal headings cost a
// thousand steps, not a million.
func uniqueID(id string, used map[string]int) string {
	n, taken := used[id]
	if !taken {
		used[id] = 1
		return id
	}
	for n++; ; n++ {
		c := id + "-" + strconv.Itoa(n)
		if _, ok := used[c]; !ok {
			used[id], used[c] = n, 1
			return c
		}
	}
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

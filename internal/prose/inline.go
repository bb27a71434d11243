package prose

import (
	"html"
	"strings"
)

// Inline markdown (code spans, links, emphasis, escapes, entities, inline
// HTML) is read here rather than by goldmark: goldmark's inline parser is
// super-linear on some hostile inputs (unclosed link destinations,
// intra-word emphasis runs), while this reader makes one bounded pass per
// construct. It only needs plain text and code spans, not HTML output, so
// it follows CommonMark loosely: unmatched markup stays literal text.

const (
	maxBracketDepth = 1024 // open "[" and emphasis runs remembered
	maxEntityBytes  = 32
	maxTagBytes     = 1024
)

// srcLine is one source line of a leaf block's inline content.
type srcLine struct {
	text string
	line int
}

// inlineReader holds one block's inline content joined by "\n".
type inlineReader struct {
	raw     string
	lines   []int  // source line of each raw line
	starts  []int  // raw offset of each raw line
	hard    []bool // raw line i ends with a hard break
	removed []bool // markup bytes not shown; nil until there are some
	code    []codeSpan
	toggles map[int]int // raw offset of <code> (+1), </code> (-1), <br> (2)
	memo    map[string][2]int
}

type codeSpan struct{ open, start, end, close int } // `open` run, content [start,end), close run end

// renderInline writes the plain text of lines' inline markdown to t,
// with line marks and code spans.
func renderInline(lines []srcLine, t *builder) {
	if len(lines) == 0 {
		return
	}
	r := &inlineReader{}
	var sb strings.Builder
	for i, l := range lines {
		text := strings.TrimLeft(l.text, " \t")
		hard := false
		if i < len(lines)-1 {
			switch {
			case strings.HasSuffix(text, "\\") && !strings.HasSuffix(text, "\\\\"):
				text, hard = text[:len(text)-1], true
			case strings.HasSuffix(text, "  "):
				hard = true
			}
		}
		text = strings.TrimRight(text, " \t")
		if i > 0 {
			sb.WriteByte('\n')
		}
		r.starts = append(r.starts, sb.Len())
		r.lines = append(r.lines, l.line)
		r.hard = append(r.hard, hard)
		sb.WriteString(text)
	}
	r.raw = sb.String()
	if strings.ContainsAny(r.raw, "`[]<*_") {
		r.codeSpans()
		r.linksAndHTML()
		r.emphasis()
	}
	r.emit(t)
}

// next returns the first index ≥ from of any byte in set, or len(raw).
// Scans move forward, so remembering the last answer per set keeps the
// total work linear.
func (r *inlineReader) next(set string, from int) int {
	if m, ok := r.memo[set]; ok && from >= m[0] && from <= m[1] {
		return m[1]
	}
	if r.memo == nil {
		r.memo = map[string][2]int{}
	}
	at := len(r.raw)
	if i := strings.IndexAny(r.raw[from:], set); i >= 0 {
		at = from + i
	}
	r.memo[set] = [2]int{from, at}
	return at
}

func isPunct(c byte) bool {
	return c < 0x80 && c > ' ' && !isAlnum(c) && c != 0x7f
}

// escaped reports whether raw[i] is backslash-escaped.
func (r *inlineReader) escaped(i int) bool {
	n := 0
	for j := i - 1; j >= 0 && r.raw[j] == '\\' && n < 64; j-- {
		n++
	}
	return n%2 == 1
}

// codeSpans pairs backtick runs of equal length, left to right.
func (r *inlineReader) codeSpans() {
	if !strings.Contains(r.raw, "`") {
		return
	}
	type run struct{ at, n int }
	var runs []run
	byLen := map[int][]int{} // run length → indexes into runs
	for i := 0; i < len(r.raw); {
		if r.raw[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(r.raw) && r.raw[j] == '`' {
			j++
		}
		byLen[j-i] = append(byLen[j-i], len(runs))
		runs = append(runs, run{i, j - i})
		i = j
	}
	cursor := map[int]int{}
	for k := 0; k < len(runs); k++ {
		o := runs[k]
		if r.escaped(o.at) {
			continue
		}
		list := byLen[o.n]
		c := cursor[o.n]
		for c < len(list) && list[c] <= k {
			c++
		}
		cursor[o.n] = c
		if c == len(list) {
			continue
		}
		cl := runs[list[c]]
		r.code = append(r.code, codeSpan{o.at, o.at + o.n, cl.at, cl.at + cl.n})
		k = list[c]
	}
}

// inCode returns the code span holding raw offset i, or -1.
func (r *inlineReader) inCode(i int) int {
	k := lowerBound(len(r.code), func(k int) bool { return r.code[k].close > i })
	if k < len(r.code) && r.code[k].open <= i {
		return k
	}
	return -1
}

// linksAndHTML hides link syntax ("[", "](url "title")", "][ref]"),
// autolink brackets and inline HTML tags, keeping link text.
func (r *inlineReader) linksAndHTML() {
	var open []int // positions of unmatched "["
	for i := 0; i < len(r.raw); i++ {
		if k := r.inCode(i); k >= 0 {
			i = r.code[k].close - 1
			continue
		}
		c := r.raw[i]
		if (c != '[' && c != ']' && c != '<') || r.escaped(i) {
			continue
		}
		switch c {
		case '[':
			if len(open) < maxBracketDepth {
				open = append(open, i)
			}
		case ']':
			if len(open) == 0 {
				continue
			}
			o := open[len(open)-1]
			open = open[:len(open)-1]
			end := r.linkTail(i + 1)
			if end < 0 {
				continue
			}
			r.hide(o, o+1)
			if o > 0 && r.raw[o-1] == '!' {
				r.hide(o-1, o)
			}
			r.hide(i, end)
			i = end - 1
		case '<':
			i = r.tag(i) - 1
		}
	}
}

// linkTail matches what follows a link's "]": "(dest "title")" or
// "[ref]", returning the offset after it, or -1.
func (r *inlineReader) linkTail(i int) int {
	if i >= len(r.raw) {
		return -1
	}
	switch r.raw[i] {
	case '[':
		j := r.next("[]", i+1)
		if j < len(r.raw) && r.raw[j] == ']' {
			return j + 1
		}
	case '(':
		j := i + 1
		if j < len(r.raw) && r.raw[j] == '<' {
			j = r.next(">\n", j)
			if j == len(r.raw) || r.raw[j] != '>' {
				return -1
			}
			j++
		} else {
			j = r.next(" \t\n)", j)
		}
		j = skipBlank(r.raw, j)
		if j < len(r.raw) && (r.raw[j] == '"' || r.raw[j] == '\'') {
			q := r.next(r.raw[j:j+1], j+1)
			if q == len(r.raw) {
				return -1
			}
			j = skipBlank(r.raw, q+1)
		}
		if j < len(r.raw) && r.raw[j] == ')' {
			return j + 1
		}
	}
	return -1
}

func skipBlank(s string, j int) int {
	for n := 0; j < len(s) && n < 64 && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n'); n++ {
		j++
	}
	return j
}

// tag handles "<" at i: an autolink keeps its URL, an HTML tag is hidden
// (<code> opens a code span, <br> breaks the line). It returns the offset
// to continue from.
func (r *inlineReader) tag(i int) int {
	gt := r.next(">", i+1)
	if gt == len(r.raw) || r.next("<", i+1) < gt || gt-i > maxTagBytes {
		return i + 1
	}
	inner := r.raw[i+1 : gt]
	if inner == "" {
		return i + 1
	}
	if sp := r.next(" \t\n", i+1); sp > gt && (strings.Contains(inner, ":") || strings.Contains(inner, "@")) {
		r.hide(i, i+1) // autolink: <https://…> or <a@b.example>
		r.hide(gt, gt+1)
		return gt + 1
	}
	if c := inner[0]; !(c == '/' || c == '!' || c == '?' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
		return i + 1
	}
	name := strings.ToLower(strings.TrimLeft(strings.FieldsFunc(inner, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '>' })[0], "/"))
	name = strings.TrimRight(name, "/")
	if !strings.HasPrefix(inner, "!--") && !isHTMLElement(name) {
		// <token>, <YOUR_API_KEY>: a placeholder in prose, not markup.
		return i + 1
	}
	if r.toggles == nil {
		r.toggles = map[int]int{}
	}
	switch {
	case name == "code" && inner[0] == '/':
		r.toggles[i] = -1
	case name == "code":
		r.toggles[i] = 1
	case name == "br":
		r.toggles[i] = 2
	}
	r.hide(i, gt+1)
	return gt + 1
}

func (r *inlineReader) hidden(i int) bool { return r.removed != nil && r.removed[i] }

func (r *inlineReader) hide(from, to int) {
	if r.removed == nil {
		r.removed = make([]bool, len(r.raw))
	}
	for k := from; k < to && k < len(r.removed); k++ {
		r.removed[k] = true
	}
}

// emphasis hides "*" and "_" runs that pair up as emphasis: an opening
// (left-flanking) run with the next closing (right-flanking) run of the
// same character. Intra-word "_" (snake_case) is never emphasis.
func (r *inlineReader) emphasis() {
	stacks := map[byte][][2]int{}
	for i := 0; i < len(r.raw); {
		c := r.raw[i]
		if (c != '*' && c != '_') || r.hidden(i) || r.escaped(i) {
			i++
			continue
		}
		if k := r.inCode(i); k >= 0 {
			i = r.code[k].close
			continue
		}
		j := i
		for j < len(r.raw) && r.raw[j] == c && !r.hidden(j) {
			j++
		}
		prev, next := byte(' '), byte(' ')
		if i > 0 {
			prev = r.raw[i-1]
		}
		if j < len(r.raw) {
			next = r.raw[j]
		}
		left := !isSpace(next) && (!isPunct(next) || isSpace(prev) || isPunct(prev))
		right := !isSpace(prev) && (!isPunct(prev) || isSpace(next) || isPunct(next))
		if c == '_' && isAlnum(prev) && isAlnum(next) {
			left, right = false, false
		}
		st := stacks[c]
		switch {
		case right && len(st) > 0:
			o := st[len(st)-1]
			stacks[c] = st[:len(st)-1]
			r.hide(o[0], o[1])
			r.hide(i, j)
		case left && len(st) < maxBracketDepth:
			stacks[c] = append(st, [2]int{i, j})
		}
		i = j
	}
}

// emit writes the visible text: code span content (one space trimmed from
// both ends, newlines as spaces) as spans, entities decoded, soft breaks
// as spaces and hard breaks as newlines.
func (r *inlineReader) emit(t *builder) {
	ln := 0 // raw line of i
	lineOf := func(i int) int {
		for ln+1 < len(r.starts) && r.starts[ln+1] <= i {
			ln++
		}
		return r.lines[ln]
	}
	from := -1 // start of a pending run of visible bytes
	flush := func(to int) {
		if from >= 0 && to > from {
			t.write(r.raw[from:to], lineOf(from))
		}
		from = -1
	}
	for i := 0; i < len(r.raw); {
		if k := r.inCode(i); k >= 0 && i == r.code[k].open {
			flush(i)
			cs := r.code[k]
			content := strings.ReplaceAll(r.raw[cs.start:cs.end], "\n", " ")
			if len(content) >= 2 && content[0] == ' ' && content[len(content)-1] == ' ' && strings.TrimSpace(content) != "" {
				content = content[1 : len(content)-1]
			}
			t.openSpan()
			t.write(content, lineOf(cs.start))
			t.closeSpan()
			i = cs.close
			continue
		}
		if v, ok := r.toggles[i]; ok {
			flush(i)
			switch v {
			case 1:
				t.openSpan()
			case -1:
				t.closeSpan()
			case 2:
				t.write("\n", 0)
			}
		}
		c := r.raw[i]
		switch {
		case r.hidden(i):
			flush(i)
		case c == '\\' && i+1 < len(r.raw) && isPunct(r.raw[i+1]):
			flush(i) // the escape itself; the escaped byte is emitted as text
			from = i + 1
			i += 2
			continue
		case c == '\n':
			flush(i)
			if r.hard[lineIndexOf(r.starts, i)] {
				t.write("\n", 0)
			} else {
				t.write(" ", 0)
			}
		case c == '&':
			if semi := strings.IndexByte(r.raw[i:min(len(r.raw), i+maxEntityBytes)], ';'); semi > 1 {
				if dec := html.UnescapeString(r.raw[i : i+semi+1]); dec != r.raw[i:i+semi+1] {
					flush(i)
					t.write(dec, lineOf(i))
					i += semi + 1
					continue
				}
			}
			if from < 0 {
				from = i
			}
		default:
			if from < 0 {
				from = i
			}
		}
		i++
	}
	flush(len(r.raw))
}

// lineIndexOf: the raw line holding offset i.
func lineIndexOf(starts []int, i int) int {
	return lowerBound(len(starts), func(k int) bool { return starts[k] > i }) - 1
}

// isHTMLElement: elements docs use inline; other <names> are placeholders.
func isHTMLElement(name string) bool {
	switch name {
	case "a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "del", "dfn", "div", "em", "font",
		"i", "img", "ins", "kbd", "mark", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
		"sup", "time", "u", "var", "wbr", "details", "summary", "table", "tr", "td", "th", "thead", "tbody",
		"ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote",
		"section", "article", "aside", "header", "footer", "figure", "figcaption", "picture", "source",
		"video", "audio", "iframe", "script", "style", "svg", "path", "input", "label", "button", "select",
		"option", "textarea", "form", "center", "nobr", "tt", "strike", "big":
		return true
	}
	return false
}

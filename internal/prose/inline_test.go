package prose

import (
	"strings"
	"testing"
)

// render returns the plain text of inline markdown with code spans in
// brackets: "a `b` c" → "a [b] c".
func render(lines ...string) string {
	src := make([]srcLine, len(lines))
	for i, l := range lines {
		src[i] = srcLine{l, i + 1}
	}
	t := newBuilder()
	renderInline(src, t)
	b, _ := t.block(kindPara)
	var sb strings.Builder
	at := 0
	for _, s := range b.spans {
		sb.WriteString(b.text[at:s[0]] + "[" + b.text[s[0]:s[1]] + "]")
		at = s[1]
	}
	sb.WriteString(b.text[at:])
	return sb.String()
}

func TestRenderInline(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"plain text"}, "plain text"},
		{[]string{"call `GET /v1/users` now"}, "call [GET /v1/users] now"},
		{[]string{"``a ` b`` and ` c `"}, "[a ` b] and [c]"},
		{[]string{"unmatched ` tick"}, "unmatched ` tick"},
		{[]string{"\\`not code\\`"}, "`not code`"},
		{[]string{"`code \\` end"}, "[code \\] end"},
		// Parentheses in a destination are not balanced (a simplification):
		// the link ends at the first ")".
		{[]string{"see [the docs](https://example.com/a_(b) \"Title\") here"}, "see the docs \"Title\") here"},
		{[]string{"see [the docs](https://example.com \"Title\") here"}, "see the docs here"},
		{[]string{"see [docs](<https://x.example/a b>) and ![logo](l.png)"}, "see docs and logo"},
		{[]string{"[ref link][id] and [shortcut] and [a]"}, "ref link and [shortcut] and [a]"},
		{[]string{"[unclosed](https://x.example"}, "[unclosed](https://x.example"},
		{[]string{"**bold** and *em* and __strong__ and _under_"}, "bold and em and strong and under"},
		{[]string{"snake_case_name and next_cursor stay"}, "snake_case_name and next_cursor stay"},
		{[]string{"a * b * c"}, "a * b * c"},
		{[]string{"*unmatched"}, "*unmatched"},
		{[]string{"`*not emphasis*`"}, "[*not emphasis*]"},
		{[]string{"&amp; &lt;tag&gt; &#65; &copy; &bogus; AT&T"}, "& <tag> A © &bogus; AT&T"},
		{[]string{"visit <https://api.example.com/v1> or <ops@example.com>"}, "visit https://api.example.com/v1 or ops@example.com"},
		{[]string{"inline <span class=\"x\">html</span> and <code>GET /x</code>"}, "inline html and [GET /x]"},
		{[]string{"a < b and c > d"}, "a < b and c > d"},
		{[]string{"line one", "line two"}, "line one line two"},
		{[]string{"hard break  ", "next"}, "hard break\nnext"},
		{[]string{"backslash break\\", "next"}, "backslash break\nnext"},
		{[]string{"a<br>b"}, "a\nb"},
		{[]string{"\\*literal\\* \\[x\\]"}, "*literal* [x]"},
		{[]string{"`span across", "lines`"}, "[span across lines]"},
		{[]string{"[x](y", ")"}, "x"},
	} {
		if got := render(tc.in...); got != tc.want {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestRenderInlineLines: text keeps the source line of each piece.
func TestRenderInlineLines(t *testing.T) {
	tb := newBuilder()
	renderInline([]srcLine{{"first `a`", 10}, {"second", 11}, {"third", 14}}, tb)
	b, _ := tb.block(kindPara)
	for _, tc := range []struct {
		word string
		line int
	}{{"first", 10}, {"a", 10}, {"second", 11}, {"third", 14}} {
		if got := b.lineAt(strings.Index(b.text, tc.word)); got != tc.line {
			t.Errorf("%q on line %d, want %d", tc.word, got, tc.line)
		}
	}
}

// TestRenderInlineLinear: inputs on which goldmark's inline parser is
// super-linear (these took seconds to minutes at this size) are read in
// one pass.
func TestRenderInlineLinear(t *testing.T) {
	for _, unit := range []string{"[a](", "[a](<", "a_b*", "``a", "[", "**a", "<a ", "[a](b \"", "\\\\`", "&#"} {
		line := strings.Repeat(unit, (1<<20)/len(unit))
		out := render(line)
		if len(out) == 0 || len(out) > len(line) {
			t.Errorf("%q: output of %d bytes from %d", unit, len(out), len(line))
		}
	}
}

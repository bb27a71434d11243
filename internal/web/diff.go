package web

import "strings"

// diffLine is one line of a unified diff with its class: add, del, hunk,
// file (the ---/+++ headers) or ctx.
type diffLine struct {
	Class string
	Text  string
}

func parseDiff(d string) []diffLine {
	if d == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	out := make([]diffLine, 0, len(lines))
	inHunk := false // the ---/+++ headers come before the first hunk only
	for _, l := range lines {
		c := "ctx"
		switch {
		case !inHunk && (strings.HasPrefix(l, "+++ ") || strings.HasPrefix(l, "--- ")):
			c = "file"
		case strings.HasPrefix(l, "@@"):
			c, inHunk = "hunk", true
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out = append(out, diffLine{Class: c, Text: l})
	}
	return out
}

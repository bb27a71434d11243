package prose

import (
	"bytes"
	"regexp"
)

const sniffBytes = 1 << 20

var (
	openAPIJSONRe = regexp.MustCompile(`"(?:openapi|swagger)"\s*:\s*"`)
	openAPIYAMLRe = regexp.MustCompile(`^["']?(?:openapi|swagger)["']?\s*:`)
	yamlLineRe    = regexp.MustCompile(`^(?:[A-Za-z_$"'][^:\s]*\s*:(?:\s|$)|[ \t-]|#|---|\.\.\.)`)
	mdSignalRe    = regexp.MustCompile("(?m)^(?:#{1,6} |```|~~~)")
)

// Sniff says what a document is by its content, so a caller can route an
// OpenAPI document to the OpenAPI loader and prose here: "openapi",
// "html", "markdown" (any other text), or "unknown" (empty, binary, JSON
// that is not OpenAPI).
func Sniff(data []byte) string {
	head := trimBOM(data)
	if len(head) > sniffBytes {
		head = head[:sniffBytes]
	}
	head = bytes.TrimLeft(head, " \t\r\n\f")
	if len(head) == 0 || isBinary(sample(head)) {
		return FormatUnknown
	}
	if head[0] == '{' || head[0] == '[' {
		if openAPIJSONRe.Match(head) {
			return FormatOpenAPI
		}
		return FormatUnknown
	}
	if openAPIYAML(head) {
		return FormatOpenAPI
	}
	if head[0] == '<' && (startsLikeHTMLPage(head) || !mdSignalRe.Match(head)) {
		return FormatHTML
	}
	return FormatMarkdown
}

// openAPIYAML: an "openapi:" or "swagger:" key at the top level among the
// document's leading lines, all of which read as YAML. A markdown page
// that quotes such a key in a code block fails the "all YAML" test at its
// fence or its first sentence.
func openAPIYAML(head []byte) bool {
	for n := 0; n < 400 && len(head) > 0; n++ {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimRight(line, " \t\r")
		switch {
		case len(line) == 0:
		case openAPIYAMLRe.Match(line):
			return true
		case !yamlLineRe.Match(line):
			return false
		}
	}
	return false
}

// startsLikeHTMLPage: a doctype or <html> (after comments) declares HTML
// whatever the file is called.
func startsLikeHTMLPage(data []byte) bool {
	head := bytes.TrimLeft(trimBOM(data), " \t\r\n\f")
	for bytes.HasPrefix(head, []byte("<!--")) {
		end := bytes.Index(head, []byte("-->"))
		if end < 0 {
			return false
		}
		head = bytes.TrimLeft(head[end+3:], " \t\r\n\f")
	}
	if len(head) > 64 {
		head = head[:64]
	}
	low := bytes.ToLower(head)
	return bytes.HasPrefix(low, []byte("<!doctype html")) || bytes.HasPrefix(low, []byte("<html"))
}

package apisurface

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/index"
	"github.com/pb33f/libopenapi/utils"
)

// maxWarnings bounds the warnings of one load: a hostile document can
// produce one per node, and a list that long helps no one.
const maxWarnings = 500

// warnList collects warnings without duplicates, up to maxWarnings.
type warnList struct {
	list    []Warning
	seen    map[Warning]bool
	dropped int
}

func (w *warnList) add(code, loc, msg string) {
	if w.seen == nil {
		w.seen = map[Warning]bool{}
	}
	wn := Warning{Code: code, Location: loc, Message: msg}
	if w.seen[wn] {
		return
	}
	if len(w.list) >= maxWarnings {
		w.dropped++
		return
	}
	w.seen[wn] = true
	w.list = append(w.list, wn)
}

// result sorts the warnings (libopenapi reports from many goroutines, in
// no fixed order) by code, file, line, column and message.
func (w *warnList) result() []Warning {
	out := w.list
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		af, al, ac := splitLoc(a.Location)
		bf, bl, bc := splitLoc(b.Location)
		if af != bf {
			return af < bf
		}
		if al != bl {
			return al < bl
		}
		if ac != bc {
			return ac < bc
		}
		return a.Message < b.Message
	})
	if w.dropped > 0 {
		out = append(out, Warning{Code: "warnings-truncated", Message: fmt.Sprintf("%d more warnings not listed", w.dropped)})
	}
	return out
}

// splitLoc splits "file:line:col" so that lines sort as numbers.
func splitLoc(loc string) (string, int, int) {
	parts := strings.Split(loc, ":")
	if len(parts) < 3 {
		return loc, 0, 0
	}
	n := len(parts)
	l, err1 := strconv.Atoi(parts[n-2])
	c, err2 := strconv.Atoi(parts[n-1])
	if err1 != nil || err2 != nil {
		return loc, 0, 0
	}
	return strings.Join(parts[:n-2], ":"), l, c
}

// logCollector is the slog handler given to libopenapi: it reports
// problems only through its logger when it keeps going (a path item
// built in part), so those records become warnings.
type logCollector struct {
	mu   sync.Mutex
	msgs []string
	seen map[string]bool
}

func newLogCollector() *logCollector { return &logCollector{seen: map[string]bool{}} }

func (l *logCollector) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }

func (l *logCollector) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return len(msg) < 400
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[msg] && len(l.msgs) < maxWarnings {
		l.seen[msg] = true
		l.msgs = append(l.msgs, msg)
	}
	return nil
}

func (l *logCollector) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCollector) WithGroup(string) slog.Handler      { return l }

func (l *logCollector) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// How libopenapi words a dangling $ref in the errors it returns and
// logs, and a file it could not open; each is folded into one warning.
var (
	refNotFound   = regexp.MustCompile(`reference '([^']*)' (?:at line (\d+), column (\d+) was not found|cannot be found at line (\d+), col (\d+))`)
	fileNotOpened = regexp.MustCompile(`unable to open the rolodex file.* file=(\S+) error=(.*)`)
)

// addModelErrors turns the errors libopenapi returns alongside a usable
// model into warnings with a code and, where known, a location.
func (b *builder) addModelErrors(err error, rolo *index.Rolodex) {
	if err == nil {
		return
	}
	for _, e := range utils.UnwrapErrors(err) {
		var ie *index.IndexingError
		var re *index.ResolvingError
		switch {
		case errors.As(e, &ie):
			msg := ie.Error()
			ref := ""
			if ie.KeyNode != nil {
				ref = ie.KeyNode.Value
			}
			switch {
			case ref != "" && (strings.Contains(msg, "does not exist") || strings.Contains(msg, "cannot be found") || strings.Contains(msg, "not found")):
				b.danglingRef(b.nodeLocation(rolo, ie.Node), ref)
			case strings.Contains(msg, "not allowed"), strings.Contains(msg, "refused"):
				b.warn("ref-refused", b.nodeLocation(rolo, ie.Node), msg)
			default:
				b.warn("index-error", b.nodeLocation(rolo, ie.Node), msg)
			}
		case errors.As(e, &re):
			loc := b.nodeLocation(rolo, re.Node)
			if re.CircularReference != nil {
				kind := "circular"
				if re.CircularReference.IsInfiniteLoop {
					kind = "infinite circular (every step required)"
				}
				b.warn("circular-ref", loc, fmt.Sprintf("%s reference %s; cut where it repeats", kind, re.CircularReference.GenerateJourneyPath()))
				continue
			}
			b.warn("unresolved-ref", loc, re.Error())
		default:
			b.message(e.Error())
		}
	}
}

// message classifies a bare libopenapi error or log message.
func (b *builder) message(msg string) {
	if m := refNotFound.FindStringSubmatch(msg); m != nil {
		line, col := m[2]+m[4], m[3]+m[5]
		file, frag, _ := strings.Cut(m[1], "#")
		loc := b.entryName()
		ref := m[1]
		if filepath.IsAbs(file) && strings.HasPrefix(m[1], file+"#") && m[2] != "" {
			// libopenapi made a local ref absolute; show it as written.
			loc, ref = b.relName(file), "#"+frag
		}
		b.danglingRef(loc+":"+line+":"+col, ref)
		return
	}
	if m := fileNotOpened.FindStringSubmatch(msg); m != nil {
		file, why := m[1], m[2]
		switch {
		case strings.Contains(why, "refused"):
			b.warn("ref-refused", "", fmt.Sprintf("$ref to %s not followed: %s", file, why[strings.Index(why, "refused"):]))
		case strings.Contains(why, "not allowed"):
			b.warn("ref-refused", "", fmt.Sprintf("$ref to %s not followed: a file document's $refs may only name files in its own directory tree", file))
		default:
			b.warn("dangling-ref", "", fmt.Sprintf("$ref to %s could not be read: %s", b.relName(file), why))
		}
		return
	}
	code := "build-error"
	switch {
	case strings.Contains(msg, "not allowed"), strings.Contains(msg, "refused"):
		code = "ref-refused"
	case strings.Contains(msg, "cannot be found"), strings.Contains(msg, "not found"), strings.Contains(msg, "no such file"):
		code = "dangling-ref"
	}
	b.warn(code, "", msg)
}

// danglingRef reports a $ref that points at nothing, once per ref and
// line (libopenapi reports the same one from several places, with
// different columns).
func (b *builder) danglingRef(loc, ref string) {
	file, line, _ := splitLoc(loc)
	k := fmt.Sprintf("%s@%s:%d", ref, file, line)
	if b.dangling == nil {
		b.dangling = map[string]bool{}
	}
	if b.dangling[k] {
		return
	}
	b.dangling[k] = true
	b.warn("dangling-ref", loc, fmt.Sprintf("$ref %q points at nothing; read as absent", ref))
}

// nodeLocation names where a node sits: "file:line:col", the file
// relative to the entry document's directory (or URL).
func (b *builder) nodeLocation(rolo *index.Rolodex, n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return ""
	}
	file := b.entryName()
	if rolo != nil && b.multiFile(rolo) {
		if o := rolo.FindNodeOrigin(n); o != nil && o.AbsoluteLocation != "" {
			file = b.relName(o.AbsoluteLocation)
		}
	}
	return fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
}

func (b *builder) multiFile(rolo *index.Rolodex) bool {
	return len(rolo.GetIndexes()) > 0
}

func (b *builder) entryName() string {
	if b.src.entryPath != "" {
		return filepath.Base(b.src.entryPath)
	}
	return b.src.location
}

func (b *builder) relName(abs string) string {
	if abs == b.src.entryPath {
		return b.entryName()
	}
	if b.src.entryPath != "" {
		if r, err := filepath.Rel(filepath.Dir(b.src.entryPath), abs); err == nil {
			return r
		}
	}
	return abs
}

// checkStringNode warns when a field that must be a string holds a
// mapping (DigitalOcean puts `$ref` under info.description): the field
// is read as empty rather than refusing the document.
func (b *builder) checkStringNode(n *yaml.Node, where string) {
	b.stringField(nil, n, where)
}

// stringField is checkStringNode that also follows the $ref when idx is
// given and the target is a string, and returns that string.
func (b *builder) stringField(idx *index.SpecIndex, n *yaml.Node, where string) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	loc := fmt.Sprintf("%s:%d:%d", b.entryName(), n.Line, n.Column)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "$ref" {
			continue
		}
		ref := n.Content[i+1].Value
		if text, ok := b.stringRef(idx, ref); ok {
			b.warn("ref-in-string", loc, fmt.Sprintf("%s is a $ref (%q) where OpenAPI wants a string; read the string it points at", where, ref))
			return text
		}
		b.warn("ref-in-string", loc, fmt.Sprintf("%s is a $ref (%q) where OpenAPI wants a string; read as empty", where, ref))
		return ""
	}
	b.warn("not-a-string", loc, fmt.Sprintf("%s is an object where OpenAPI wants a string; read as empty", where))
	return ""
}

// stringRef looks a $ref up in the index, as written and as an absolute
// path next to the entry file, and returns its target if it is a string.
func (b *builder) stringRef(idx *index.SpecIndex, ref string) (string, bool) {
	if idx == nil || ref == "" {
		return "", false
	}
	cands := []string{ref}
	if b.src.entryPath != "" && !strings.HasPrefix(ref, "#") {
		file, frag, _ := strings.Cut(ref, "#")
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(b.src.entryPath), filepath.FromSlash(file))
		}
		cands = append(cands, file+"#"+frag)
	}
	for _, c := range cands {
		if r, _ := idx.SearchIndexForReference(c); r != nil && r.Node != nil && r.Node.Kind == yaml.ScalarNode {
			return r.Node.Value, true
		}
	}
	return "", false
}

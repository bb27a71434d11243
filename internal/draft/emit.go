package draft

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spindlehq/spindle/internal/integration"
)

// The YAML is written by hand rather than marshalled: a reviewer reads it
// as a diff, so it carries short comments naming the doc's evidence for
// each choice, and its order is fixed (spec order for fixed keys, the
// canonical field order for maps, sorted otherwise).

// yNode is one YAML node: a scalar, a mapping or a sequence.
type yNode struct {
	key     string // mapping key; "" for a sequence item
	scalar  string // rendered scalar or flow value; "" for a block node
	kids    []*yNode
	seq     bool     // kids are sequence items
	comment string   // trailing comment
	head    []string // comment lines above
}

func (n *yNode) add(kids ...*yNode) *yNode {
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

func leaf(key, rendered string) *yNode { return &yNode{key: key, scalar: rendered} }

func str(key, v string) *yNode {
	if v == "" {
		return nil
	}
	return leaf(key, yString(v))
}

func num(key string, v int) *yNode {
	if v == 0 {
		return nil
	}
	return leaf(key, strconv.Itoa(v))
}

func block(key string, kids ...*yNode) *yNode {
	n := &yNode{key: key}
	n.add(kids...)
	if len(n.kids) == 0 {
		return nil
	}
	return n
}

func (n *yNode) note(c string) *yNode {
	if n != nil && c != "" {
		n.comment = oneLine(c)
	}
	return n
}

func (n *yNode) above(lines ...string) *yNode {
	if n != nil {
		for _, l := range lines {
			if l != "" {
				n.head = append(n.head, oneLine(l))
			}
		}
	}
	return n
}

// oneLine keeps a comment on one line and free of anything that could end
// it early or smuggle YAML (comments come from untrusted doc text).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || r == 0x85 {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

var plainRE = regexp.MustCompile(`^[A-Za-z0-9_/][A-Za-z0-9_./+-]*$`)
var numberLikeRE = regexp.MustCompile(`^[-+]?(\.?[0-9]|0x|0o)`)

// yString renders a string scalar: plain when unambiguous, else single
// quoted (CEL's double-quoted literals stay readable), else double
// quoted with escapes.
func yString(s string) string {
	switch strings.ToLower(s) {
	case "", "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		return "'" + s + "'"
	}
	if plainRE.MatchString(s) && !numberLikeRE.MatchString(s) {
		return s
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r > 0x7e }) {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return strconv.Quote(s)
}

func yKey(k string) string {
	if plainRE.MatchString(k) && !numberLikeRE.MatchString(k) {
		return yString(k)
	}
	return yString(k) // quoted forms are valid keys too
}

func flowStrings(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = yString(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func flowInts(vals []int) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (n *yNode) render(b *strings.Builder, indent int, inSeq bool) {
	pad := strings.Repeat(" ", indent)
	hpad := pad
	if inSeq {
		hpad = pad[:len(pad)-2]
	}
	for _, h := range n.head {
		b.WriteString(hpad + "# " + h + "\n")
	}
	line := pad
	if inSeq {
		line = pad[:len(pad)-2] + "- "
	}
	if n.key != "" {
		line += yKey(n.key) + ":"
	}
	if n.scalar != "" || len(n.kids) == 0 {
		if n.key != "" {
			line += " "
		}
		val := n.scalar
		if val == "" {
			val = "{}"
			if n.seq {
				val = "[]"
			}
		}
		line += val
		if n.comment != "" {
			line += "  # " + n.comment
		}
		b.WriteString(line + "\n")
		return
	}
	if n.key == "" && inSeq {
		// A mapping as a sequence item: its first key on the dash line.
		for i, k := range n.kids {
			if i == 0 {
				sub := &strings.Builder{}
				k.render(sub, indent, true)
				b.WriteString(sub.String())
				continue
			}
			k.render(b, indent, false)
		}
		return
	}
	if n.comment != "" {
		line += "  # " + n.comment
	}
	b.WriteString(line + "\n")
	for _, k := range n.kids {
		if n.seq {
			k.render(b, indent+4, true)
		} else {
			k.render(b, indent+2, false)
		}
	}
}

// notes are the comments a draft attaches, by node path: "connection.auth",
// "streams.<name>", "streams.<name>.pagination", "streams.<name>.map.<field>".
type notes struct {
	head  map[string][]string
	trail map[string]string
}

func newNotes() *notes { return &notes{head: map[string][]string{}, trail: map[string]string{}} }

func (ns *notes) apply(path string, n *yNode) *yNode {
	if n == nil {
		return nil
	}
	n.above(ns.head[path]...)
	return n.note(ns.trail[path])
}

// specYAML writes the spec with its notes.
func specYAML(s *integration.Spec, ns *notes, header []string) []byte {
	root := &yNode{}
	md := s.Metadata
	var src *yNode
	if md.SourceDoc != nil {
		src = block("source_doc", str("location", md.SourceDoc.Location), str("sha256", md.SourceDoc.SHA256))
	}
	review := ""
	if md.ReviewEvery != 0 {
		review = md.ReviewEvery.String()
	}
	root.add(
		leaf("apiVersion", yString(s.APIVersion)),
		leaf("kind", yString(s.Kind)),
		ns.apply("metadata", block("metadata", str("name", md.Name), str("vendor", md.Vendor), str("category", md.Category),
			str("owner", md.Owner), str("review_every", review), src, str("description", md.Description))),
	)
	c := s.Connection
	var cfg *yNode
	if len(c.Config) > 0 {
		cfg = &yNode{key: "config"}
		for _, k := range sortedKeys(c.Config) {
			v := c.Config[k]
			var req *yNode
			if v.Required {
				req = leaf("required", "true")
			}
			cfg.add(ns.apply("connection.config."+k, block(k, req, str("default", v.Default), str("description", v.Description))))
		}
	}
	a := c.Auth
	var scopes *yNode
	if len(a.Scopes) > 0 {
		scopes = leaf("scopes", flowStrings(a.Scopes))
	}
	auth := block("auth", str("type", a.Type), str("in", a.In), str("name", a.Name), str("prefix", a.Prefix),
		str("username", a.Username), str("client_id", a.ClientID), str("token_url", a.TokenURL),
		str("credential", a.Credential), ns.apply("connection.auth.scopes", scopes))
	root.add(ns.apply("connection", block("connection", ns.apply("connection.base_url", str("base_url", c.BaseURL)), cfg,
		ns.apply("connection.auth", auth))))
	root.add(ns.apply("defaults", defaultsNode(s.Defaults, ns)))
	streams := &yNode{key: "streams", seq: true}
	for i := range s.Streams {
		streams.add(streamNode(&s.Streams[i], ns))
	}
	root.add(streams)

	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	for i, k := range root.kids {
		if i > 0 && (k.key == "metadata" || k.key == "connection" || k.key == "defaults" || k.key == "streams") {
			b.WriteString("\n")
		}
		k.render(&b, 0, false)
	}
	return []byte(b.String())
}

func defaultsNode(d integration.Defaults, ns *notes) *yNode {
	var rl, rt *yNode
	if d.RateLimit != nil {
		rl = block("rate_limit", leaf("requests_per_second", strconv.FormatFloat(d.RateLimit.RequestsPerSecond, 'f', -1, 64)), num("burst", d.RateLimit.Burst))
	}
	if d.Retry != nil {
		r := d.Retry
		var on *yNode
		if len(r.On) > 0 {
			on = leaf("on", flowInts(r.On))
		}
		rt = block("retry", num("max_attempts", r.MaxAttempts), on, str("backoff", r.Backoff), dur("initial_interval", r.InitialInterval),
			dur("max_interval", r.MaxInterval), dur("max_wait", r.MaxWait))
	}
	return block("defaults", mapNode("headers", d.Headers), mapNode("query", d.Query), pagingNode(d.Pagination),
		ns.apply("defaults.rate_limit", rl), ns.apply("defaults.retry", rt), dur("timeout", d.Timeout),
		num("concurrency", d.Concurrency))
}

func dur(key string, d integration.Duration) *yNode {
	if d == 0 {
		return nil
	}
	return leaf(key, yString(d.String()))
}

func mapNode(key string, m map[string]string) *yNode {
	if len(m) == 0 {
		return nil
	}
	n := &yNode{key: key}
	for _, k := range sortedKeys(m) {
		n.add(leaf(k, yString(m[k])))
	}
	return n
}

func pagingNode(p *integration.Pagination) *yNode {
	if p == nil {
		return nil
	}
	var sp *yNode
	if p.StartPage != nil {
		sp = leaf("start_page", strconv.Itoa(*p.StartPage))
	}
	return block("pagination", str("type", p.Type), str("size_param", p.SizeParam), num("page_size", p.PageSize),
		str("limit_param", p.LimitParam), str("offset_param", p.OffsetParam), str("page_param", p.PageParam), sp,
		str("cursor_path", p.CursorPath), str("cursor_param", p.CursorParam), str("next_url_path", p.NextURLPath),
		str("header", p.Header), str("more_field", p.MoreField), str("total_field", p.TotalField), num("max_pages", p.MaxPages))
}

func streamNode(st *integration.Stream, ns *notes) *yNode {
	p := "streams." + st.Name
	n := &yNode{}
	var fe *yNode
	if st.ForEach != nil {
		fe = block("for_each", str("stream", st.ForEach.Stream), str("as", st.ForEach.As), num("concurrency", st.ForEach.Concurrency))
	}
	req := block("request", str("method", st.Request.Method), str("path", st.Request.Path),
		ns.apply(p+".request.query", mapNode("query", st.Request.Query)), mapNode("headers", st.Request.Headers))
	var m *yNode
	if len(st.Map) > 0 {
		m = &yNode{key: "map"}
		for _, f := range mapOrder(st.Map) {
			m.add(ns.apply(p+".map."+f, leaf(f, yString(st.Map[f]))))
		}
	}
	var rels *yNode
	if len(st.Relationships) > 0 {
		rels = &yNode{key: "relationships", seq: true}
		for i, r := range st.Relationships {
			rels.add(ns.apply(p+".relationships."+strconv.Itoa(i), block("", str("type", r.Type), str("kind", r.Kind),
				leaf("external_id", yString(r.ExternalID)), str("privilege", r.Privilege))))
		}
	}
	var ro *yNode
	if st.ReadOnly {
		ro = leaf("read_only", "true")
	}
	records := leaf("records", yString(st.Records))
	if st.Records == "" {
		records = leaf("records", "'.'")
	}
	n.add(leaf("name", yString(st.Name)), ro, ns.apply(p+".for_each", fe), ns.apply(p+".request", req),
		ns.apply(p+".pagination", pagingNode(st.Pagination)), ns.apply(p+".records", records),
		ns.apply(p+".error_when", str("error_when", st.ErrorWhen)), str("error_message", st.ErrorMessage),
		ns.apply(p+".emits", str("emits", st.Emits)), m, rels)
	return ns.apply(p, n)
}

// mapOrder lists a map's fields in the canonical order.
func mapOrder(m map[string]string) []string {
	var out []string
	for _, f := range integration.MapFields {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	var rest []string
	for f := range m {
		if !slices.Contains(out, f) {
			rest = append(rest, f)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

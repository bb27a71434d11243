package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// Facts are what a reviewer needs to judge a proposal, read from the spec
// itself and the doc — the same for every brain, so no brain can describe
// its own work more kindly than it is.
type Facts struct {
	Name       string       `json:"name,omitempty"`
	BaseURL    string       `json:"base_url,omitempty"`
	Hosts      []string     `json:"hosts"`
	Auth       AuthFact     `json:"auth"`
	Streams    []StreamFact `json:"streams"`
	Scopes     []ScopeFact  `json:"scopes"`
	NotCovered []string     `json:"not_covered"` // NHI list operations of the doc no stream reads
}

// AuthFact is how the integration authenticates.
type AuthFact struct {
	Type       string   `json:"type"`
	Header     string   `json:"header,omitempty"`
	Prefix     string   `json:"prefix,omitempty"`
	Credential string   `json:"credential,omitempty"` // the vault reference to provision
	Scopes     []string `json:"scopes,omitempty"`
	DocScheme  string   `json:"doc_scheme,omitempty"` // the doc's security scheme it matches
}

// StreamFact is one stream as a reviewer reads it.
type StreamFact struct {
	Name       string   `json:"name"`
	Method     string   `json:"method"`
	Path       string   `json:"path"`                // as the spec requests it
	Operation  string   `json:"operation,omitempty"` // the doc's operation, "" when none matches
	Emits      string   `json:"emits,omitempty"`
	Via        string   `json:"via"` // "list", "for_each <parent>", "embedded"
	Paging     string   `json:"paging"`
	Records    string   `json:"records"`
	Fields     []string `json:"fields,omitempty"` // canonical fields mapped
	Deprecated bool     `json:"deprecated,omitempty"`
}

// ScopeFact is one scheme's least-privilege scopes for the streams read.
type ScopeFact struct {
	Scheme string   `json:"scheme"`
	Scopes []string `json:"scopes"`
	// ByOperation maps "GET /path" to the scopes it needs.
	ByOperation map[string][]string `json:"by_operation"`
}

func facts(y []byte, surf *apisurface.Surface) *Facts {
	if len(y) == 0 {
		return nil
	}
	doc, err := integration.Parse("integration.yaml", y)
	if err != nil || doc.Spec == nil {
		return nil
	}
	sp := doc.Spec
	f := &Facts{Name: sp.Metadata.Name, BaseURL: sp.Connection.BaseURL, Hosts: []string{}, Streams: []StreamFact{}, Scopes: []ScopeFact{}, NotCovered: []string{}}
	if u, err := url.Parse(sp.Connection.BaseURL); err == nil && u.Host != "" {
		f.Hosts = append(f.Hosts, u.Host)
	}
	a := sp.Connection.Auth
	f.Auth = AuthFact{Type: a.Type, Prefix: a.Prefix, Credential: a.Credential, Scopes: a.Scopes}
	if a.Type == integration.AuthAPIKey {
		f.Auth.Header = a.Name
	}
	if u, err := url.Parse(a.TokenURL); err == nil && u.Host != "" && !slices.Contains(f.Hosts, u.Host) {
		f.Hosts = append(f.Hosts, u.Host)
	}
	if surf != nil {
		f.Auth.DocScheme = matchScheme(a, surf)
	}

	read := map[string]bool{}
	scopes := map[string]*ScopeFact{}
	for _, st := range sp.Streams {
		sf := StreamFact{Name: st.Name, Method: st.Request.MethodOrGet(), Path: st.Request.Path, Emits: st.Emits, Via: "list", Records: st.Records, Paging: "none"}
		if st.ForEach != nil {
			sf.Via = "for_each " + st.ForEach.Stream
		}
		if strings.Contains(st.Records, "*.") {
			sf.Via = "embedded"
		}
		if p := st.Pagination; p != nil {
			sf.Paging = p.Type
		} else if p := sp.Defaults.Pagination; p != nil {
			sf.Paging = p.Type
		}
		for k := range st.Map {
			sf.Fields = append(sf.Fields, k)
		}
		sort.Strings(sf.Fields)
		if op := matchOperation(sp, st, surf); op != nil {
			sf.Operation = op.Method + " " + op.Path
			sf.Deprecated = op.Deprecated
			read[sf.Operation] = true
			for scheme, sc := range opScopes(op, surf) {
				fact := scopes[scheme]
				if fact == nil {
					fact = &ScopeFact{Scheme: scheme, ByOperation: map[string][]string{}}
					scopes[scheme] = fact
				}
				fact.ByOperation[sf.Operation] = sc
				for _, x := range sc {
					if !slices.Contains(fact.Scopes, x) {
						fact.Scopes = append(fact.Scopes, x)
					}
				}
			}
		}
		f.Streams = append(f.Streams, sf)
	}
	for _, k := range sortedKeys(scopes) {
		sort.Strings(scopes[k].Scopes)
		f.Scopes = append(f.Scopes, *scopes[k])
	}
	if surf != nil {
		for _, op := range surf.Operations {
			if op.Method == "GET" && op.List != nil && isNHI(op.List.Kind) && !op.Deprecated && !read[op.Method+" "+op.Path] {
				f.NotCovered = append(f.NotCovered, fmt.Sprintf("%s %s (%s)", op.Method, op.Path, op.List.Kind))
			}
		}
	}
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// opScopes is, per scheme, the scopes an operation needs: its own
// requirement or the document's. With alternatives, each scheme's own
// alternative counts (a scheme is one way in; its scopes are what that
// way needs).
func opScopes(op *apisurface.Operation, surf *apisurface.Surface) map[string][]string {
	reqs := op.Security
	if reqs == nil && surf != nil {
		reqs = surf.Security
	}
	out := map[string][]string{}
	for _, r := range reqs {
		for _, u := range r.Schemes {
			if len(u.Scopes) > 0 {
				out[u.Scheme] = append(out[u.Scheme], u.Scopes...)
			}
		}
	}
	return out
}

func matchScheme(a integration.Auth, surf *apisurface.Surface) string {
	return surf.MatchScheme(a.Type, a.Name)
}

// matchOperation finds the doc operation a stream requests (see
// apisurface.Surface.MatchOperation, which drift checks share).
func matchOperation(sp *integration.Spec, st integration.Stream, surf *apisurface.Surface) *apisurface.Operation {
	return surf.MatchOperation(sp.Connection.BaseURL, st.Request.MethodOrGet(), st.Request.Path)
}

// autoQuestions are the questions the facts raise whatever the brain said.
func autoQuestions(f *Facts, have []string) []string {
	if f == nil {
		return nil
	}
	var qs []string
	add := func(q string) {
		for _, h := range have {
			if strings.EqualFold(strings.TrimSpace(h), q) {
				return
			}
		}
		qs = append(qs, q)
	}
	if f.Auth.Type == integration.AuthNone && !mentions(have, "authenticat") {
		add("The integration sends no credential (auth type none). How does this API authenticate? Set connection.auth before approving.")
	}
	for _, st := range f.Streams {
		if st.Operation == "" {
			add(fmt.Sprintf("Stream %s requests %s %s, which the documentation does not describe. Is it a real endpoint?", st.Name, st.Method, st.Path))
		}
		if st.Deprecated {
			add(fmt.Sprintf("Stream %s reads %s, which the documentation marks deprecated. Is there a replacement?", st.Name, st.Operation))
		}
	}
	return qs
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// surfaceText renders the doc's prose — its introduction, schemes and each
// operation's summary and description — as markdown, so search_docs and
// read_section work the same on OpenAPI docs as on prose ones.
func surfaceText(s *apisurface.Surface) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n%s\n\n", oneLine(s.Title), oneLine(s.Version), s.Description)
	if len(s.SecuritySchemes) > 0 {
		b.WriteString("# Authentication\n\n")
		for _, sc := range s.SecuritySchemes {
			fmt.Fprintf(&b, "## Security scheme %s\n\ntype %s %s %s %s\n\n%s\n\n", oneLine(sc.Name), sc.Type, sc.In, sc.ParamName, sc.Scheme, sc.Description)
		}
	}
	for _, op := range s.Operations {
		fmt.Fprintf(&b, "## %s %s\n\n%s\n\n%s\n\n", op.Method, oneLine(op.Path), oneLine(op.Summary), op.Description)
		for _, p := range op.Parameters {
			if p.Description != "" {
				fmt.Fprintf(&b, "- parameter %s (%s): %s\n", oneLine(p.Name), p.In, oneLine(p.Description))
			}
		}
		b.WriteString("\n")
		if b.Len() > 16<<20 {
			b.WriteString("\n(the rest of the documentation text is omitted: over 16 MiB)\n")
			break
		}
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func mentions(qs []string, word string) bool {
	for _, q := range qs {
		if strings.Contains(strings.ToLower(q), word) {
			return true
		}
	}
	return false
}

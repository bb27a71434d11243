package apisurface

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
)

// repairLocalRefs finds each local $ref ("#/…") in the entry document
// that points at nothing, reports it, and removes it, before libopenapi
// builds the model. libopenapi reports such a ref too, but then drops
// the whole response or media type around it: Okta's dangling example
// refs would cost the operations their response schemas. Without the ref
// the object reads as what it says besides (an example or schema with no
// constraints), which is the honest reading of a cosmetic defect.
func (b *builder) repairLocalRefs(root *yaml.Node) {
	if root == nil {
		return
	}
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return
		}
		doc = doc.Content[0]
	}
	resolves := map[string]bool{}
	// The parser's nodes form a tree; only alias nodes point elsewhere, and
	// they are not followed (their anchor is walked where it is), so each
	// node is visited once.
	stack := []*yaml.Node{doc}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil || (n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode) {
			continue
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value != "$ref" || v.Kind != yaml.ScalarNode || !strings.HasPrefix(v.Value, "#") {
					continue
				}
				ok, done := resolves[v.Value]
				if !done {
					ok = pointerResolves(doc, v.Value)
					resolves[v.Value] = ok
				}
				if !ok {
					b.danglingRef(fmt.Sprintf("%s:%d:%d", b.entryName(), n.Line, n.Column), v.Value)
					n.Content = append(n.Content[:i:i], n.Content[i+2:]...)
				}
				break
			}
		}
		stack = append(stack, n.Content...)
	}
}

// pointerResolves says whether a local JSON pointer ("#/a/b") names a
// node in doc. A pointer that passes through another $ref is taken to
// resolve: following ref chains is libopenapi's job.
func pointerResolves(doc *yaml.Node, ref string) bool {
	frag := strings.TrimPrefix(ref, "#")
	if frag == "" {
		return true
	}
	if !strings.HasPrefix(frag, "/") {
		return true // a plain-name fragment ($anchor): not ours to judge
	}
	n := doc
	for _, seg := range strings.Split(frag[1:], "/") {
		seg = unescapePointer(seg)
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return false
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					return true
				}
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return false
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				return false
			}
			n = n.Content[i]
		default:
			return false
		}
	}
	return true
}

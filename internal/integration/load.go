package integration

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed spec.schema.json
var specSchemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of a spindle/v1 spec.
func Schema() []byte { return append([]byte(nil), specSchemaJSON...) }

// Level is a finding's severity. Only errors fail a lint.
type Level string

const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
)

// Finding is one problem in a spec, located in its file.
type Finding struct {
	Rule    string `json:"rule"`
	Level   Level  `json:"level"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
	}
	return fmt.Sprintf("%s: %s %s: %s (at %s)", loc, f.Level, f.Rule, f.Message, f.Path)
}

// Findings is a list of findings that is also an error when it holds one.
type Findings []Finding

// Errors returns only the error-level findings.
func (fs Findings) Errors() Findings {
	var out Findings
	for _, f := range fs {
		if f.Level == LevelError {
			out = append(out, f)
		}
	}
	return out
}

func (fs Findings) Error() string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}

// Document is a parsed spec with what is needed to locate its parts.
type Document struct {
	File string
	Spec *Spec
	Raw  []byte
	ast  *ast.File
}

// LoadFile reads, parses and lints a spec. Any error-level finding fails it;
// the returned error is then a Findings listing every problem.
func LoadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return Load(path, data)
}

// Load parses and lints a spec held in memory; file names it in errors.
func Load(file string, data []byte) (*Document, error) {
	doc, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	if errs := Lint(doc).Errors(); len(errs) > 0 {
		return nil, errs
	}
	return doc, nil
}

// Parse checks YAML syntax, the JSON Schema and the Go types, in that order,
// and stops at the first stage that fails (later stages would only repeat
// its complaints). It does not lint; see Lint.
func Parse(file string, data []byte) (*Document, error) {
	doc := &Document{File: file, Raw: data}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Findings{doc.yamlFinding("SPX-S001", err)}
	}
	doc.ast = f
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, Findings{{Rule: "SPX-S001", Level: LevelError, File: file, Path: "$",
			Message: fmt.Sprintf("want exactly one YAML document, found %d; a spec file holds one integration", len(f.Docs))}}
	}
	var generic any
	if err := yaml.UnmarshalWithOptions(data, &generic, yaml.UseOrderedMap()); err != nil {
		return nil, Findings{doc.yamlFinding("SPX-S001", err)}
	}
	if fs := doc.schemaFindings(toJSONValue(generic)); len(fs) > 0 {
		return nil, fs
	}
	var spec Spec
	if err := yaml.UnmarshalWithOptions(data, &spec, yaml.Strict()); err != nil {
		return nil, Findings{doc.yamlFinding("SPX-S003", err)}
	}
	doc.Spec = &spec
	return doc, nil
}

func (d *Document) yamlFinding(rule string, err error) Finding {
	f := Finding{Rule: rule, Level: LevelError, File: d.File, Path: "$", Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		f.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			f.Line, f.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return f
}

// compiledSpecSchema is immutable once built. The schema is embedded and
// fixed, so it is compiled once at start-up: a broken schema fails every
// test at once rather than at first use.
var compiledSpecSchema = mustCompileSchema(specSchemaJSON)

var englishPrinter = message.NewPrinter(language.English)

func mustCompileSchema(src []byte) *jsonschema.Schema {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err == nil {
		c := jsonschema.NewCompiler()
		if err = c.AddResource("spec.schema.json", v); err == nil {
			var s *jsonschema.Schema
			if s, err = c.Compile("spec.schema.json"); err == nil {
				return s
			}
		}
	}
	panic("integration: embedded spec schema does not compile: " + err.Error())
}

func (d *Document) schemaFindings(v any) Findings {
	err := compiledSpecSchema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return Findings{{Rule: "SPX-S002", Level: LevelError, File: d.File, Path: "$", Message: err.Error()}}
	}
	var out Findings
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		p := yamlPath(e.InstanceLocation)
		msg := e.ErrorKind.LocalizedString(englishPrinter)
		// Point at the offending key itself, not its parent object.
		switch k := e.ErrorKind.(type) {
		case *kind.PropertyNames:
			p += "." + quoteKey(k.Property)
			msg = fmt.Sprintf("%q is not an allowed key here", k.Property)
			if len(e.Causes) > 0 {
				msg += ": " + e.Causes[0].ErrorKind.LocalizedString(englishPrinter)
			}
		case *kind.AdditionalProperties:
			if len(k.Properties) > 0 {
				p += "." + quoteKey(k.Properties[0])
			}
		default:
			if len(e.Causes) > 0 {
				for _, c := range e.Causes {
					walk(c)
				}
				return
			}
		}
		if seen[p+msg] {
			return
		}
		seen[p+msg] = true
		f := Finding{Rule: "SPX-S002", Level: LevelError, File: d.File, Path: p, Message: msg}
		f.Line, f.Column = d.Pos(p)
		out = append(out, f)
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// yamlPath turns instance location segments into a goccy YAML path.
func yamlPath(segs []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range segs {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		b.WriteString("." + quoteKey(s))
	}
	return b.String()
}

// quoteKey quotes a mapping key for a YAML path when it holds characters the
// path syntax reserves.
func quoteKey(k string) string {
	if strings.ContainsAny(k, ".[]$*' ") {
		return "'" + strings.ReplaceAll(k, "'", `\'`) + "'"
	}
	return k
}

// Pos finds the line and column of a YAML path, falling back to the nearest
// enclosing node that exists (a missing field is reported at its parent).
func (d *Document) Pos(path string) (int, int) {
	if d.ast == nil {
		return 0, 0
	}
	for p := path; p != ""; p = parentPath(p) {
		yp, err := yaml.PathString(p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(d.ast)
		if err != nil || n == nil {
			continue
		}
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			return tk.Position.Line, tk.Position.Column
		}
	}
	return 1, 1
}

func parentPath(p string) string {
	if p == "$" {
		return ""
	}
	// Strip the last ".key", ".'quoted key'" or "[n]".
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i > 0 {
			return p[:i]
		}
	}
	if strings.HasSuffix(p, "'") {
		if i := strings.LastIndex(p[:len(p)-1], ".'"); i > 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i > 0 {
		return p[:i]
	}
	return "$"
}

// toJSONValue converts decoded YAML into the JSON data model the schema
// validator expects (ordered maps to maps, all numbers to json.Number).
func toJSONValue(v any) any {
	switch t := v.(type) {
	case yaml.MapSlice:
		m := make(map[string]any, len(t))
		for _, it := range t {
			m[fmt.Sprint(it.Key)] = toJSONValue(it.Value)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = toJSONValue(x)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = toJSONValue(x)
		}
		return out
	case int:
		return json.Number(strconv.Itoa(t))
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case uint64:
		return json.Number(strconv.FormatUint(t, 10))
	case float64:
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64))
	default:
		return v
	}
}

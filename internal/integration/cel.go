package integration

import (
	"fmt"
	"sort"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/ext"
)

// CEL variables visible to expressions. Map and relationship expressions see
// r (the record), config and the for_each aliases of every ancestor stream;
// error_when and error_message see body, status, config and the aliases.
const (
	VarRecord = "r"
	VarConfig = "config"
	VarBody   = "body"
	VarStatus = "status"
)

// CostLimit bounds the work one expression may do on one record, so a
// hostile or careless expression (a comprehension over a huge list) fails
// instead of stalling a sync.
const CostLimit = 100_000

// Compiled holds every CEL program of a spec, compiled once. cel.Program is
// safe for concurrent use.
type Compiled struct {
	Streams map[string]*StreamPrograms
}

// StreamPrograms are one stream's programs.
type StreamPrograms struct {
	// Fields are the map's canonical field names, sorted, and Map their
	// programs in the same order.
	Fields        []string
	Map           []cel.Program
	Relationships []RelPrograms
	ErrorWhen     cel.Program // nil when unset
	ErrorMessage  cel.Program // nil when unset
}

// RelPrograms are the programs of one relationship declaration.
type RelPrograms struct {
	ExternalID cel.Program
	Privilege  cel.Program // nil when unset
}

// celIssue is a compile error located by a YAML path.
type celIssue struct {
	path, msg string
}

// Aliases returns the for_each aliases visible to a stream: its own and its
// ancestors', nearest first. Unknown parents and cycles stop the walk (the
// structural lint reports them).
func (s *Spec) Aliases(stream string) []string {
	var out []string
	seen := map[string]bool{}
	for cur := s.Stream(stream); cur != nil && cur.ForEach != nil && !seen[cur.Name]; cur = s.Stream(cur.ForEach.Stream) {
		seen[cur.Name] = true
		out = append(out, cur.ForEach.As)
	}
	return out
}

// Stream returns the stream with that name, or nil.
func (s *Spec) Stream(name string) *Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}

// libraries are the CEL extensions every expression may use.
func libraries() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable(VarConfig, cel.MapType(cel.StringType, cel.StringType)),
		ext.Strings(), ext.Lists(), ext.Math(), ext.Encoders(), cel.OptionalTypes(),
	}
}

// baseEnv is the environment of map and relationship expressions.
func baseEnv() (*cel.Env, error) {
	return cel.NewEnv(append(libraries(), cel.Variable(VarRecord, cel.DynType))...)
}

// programOptions bounds an expression's cost. When the static estimate
// proves the expression can never exceed the limit (field access, literals,
// arithmetic — the common case), runtime cost tracking would only spend
// time and memory on every record, so it is left off; anything whose cost
// depends on input sizes (string functions, comprehensions) is tracked and
// stopped at the limit.
func programOptions(env *cel.Env, ast *cel.Ast, limit uint64) []cel.ProgramOption {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := env.EstimateCost(ast, unknownSizes{}); err == nil && est.Max <= limit {
		return opts
	}
	return append(opts, cel.CostLimit(limit), cel.InterruptCheckFrequency(100))
}

// unknownSizes makes the estimator assume the worst about every input.
type unknownSizes struct{}

func (unknownSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
func (unknownSizes) EstimateSize(cost.AstNode) *cost.SizeEstimate { return nil }

// Compile compiles every CEL expression in the spec.
func Compile(spec *Spec) (*Compiled, error) {
	c, issues := compileSpec(spec)
	if len(issues) > 0 {
		fs := make(Findings, len(issues))
		for i, is := range issues {
			fs[i] = Finding{Rule: "SPX-C001", Level: LevelError, Path: is.path, Message: is.msg}
		}
		return nil, fs
	}
	return c, nil
}

func compileSpec(spec *Spec) (*Compiled, []celIssue) {
	base, err := baseEnv()
	if err != nil {
		return nil, []celIssue{{"$", "building the CEL environment: " + err.Error()}}
	}
	out := &Compiled{Streams: map[string]*StreamPrograms{}}
	var issues []celIssue
	for i, st := range spec.Streams {
		sp := fmt.Sprintf("$.streams[%d]", i)
		opts := []cel.EnvOption{}
		for _, a := range spec.Aliases(st.Name) {
			opts = append(opts, cel.Variable(a, cel.DynType))
		}
		recEnv, err := base.Extend(opts...)
		if err != nil {
			issues = append(issues, celIssue{sp + ".for_each.as", err.Error()})
			continue
		}
		// error_when sees the page, not a record: no r.
		bodyOpts := append(libraries(), cel.Variable(VarBody, cel.DynType), cel.Variable(VarStatus, cel.IntType))
		bodyEnv, err := cel.NewEnv(append(bodyOpts, opts...)...)
		if err != nil {
			issues = append(issues, celIssue{sp, err.Error()})
			continue
		}
		prog := func(env *cel.Env, path, expr string, want *cel.Type) cel.Program {
			ast, iss := env.Compile(expr)
			if iss != nil && iss.Err() != nil {
				issues = append(issues, celIssue{path, "CEL: " + iss.Err().Error()})
				return nil
			}
			if want != nil && !ast.OutputType().IsAssignableType(want) && ast.OutputType() != cel.DynType {
				issues = append(issues, celIssue{path, fmt.Sprintf("CEL: expression yields %s, want %s", ast.OutputType(), want)})
				return nil
			}
			p, err := env.Program(ast, programOptions(env, ast, CostLimit)...)
			if err != nil {
				issues = append(issues, celIssue{path, "CEL: " + err.Error()})
				return nil
			}
			return p
		}
		s := &StreamPrograms{}
		for f := range st.Map {
			s.Fields = append(s.Fields, f)
		}
		sort.Strings(s.Fields)
		for _, f := range s.Fields {
			s.Map = append(s.Map, prog(recEnv, sp+".map."+quoteKey(f), st.Map[f], nil))
		}
		for j, r := range st.Relationships {
			rp := fmt.Sprintf("%s.relationships[%d]", sp, j)
			rel := RelPrograms{ExternalID: prog(recEnv, rp+".external_id", r.ExternalID, nil)}
			if r.Privilege != "" {
				rel.Privilege = prog(recEnv, rp+".privilege", r.Privilege, nil)
			}
			s.Relationships = append(s.Relationships, rel)
		}
		if st.ErrorWhen != "" {
			s.ErrorWhen = prog(bodyEnv, sp+".error_when", st.ErrorWhen, cel.BoolType)
		}
		if st.ErrorMessage != "" {
			s.ErrorMessage = prog(bodyEnv, sp+".error_message", st.ErrorMessage, nil)
		}
		out.Streams[st.Name] = s
	}
	return out, issues
}

package apisurface

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
)

// DefaultMaxBytes caps each document Load reads or fetches when
// Options.MaxBytes is zero.
const DefaultMaxBytes int64 = 64 << 20

// Options tune Load. The zero value is ready to use.
type Options struct {
	// HTTPClient fetches URL documents and their remote $refs; nil means a
	// client with a one-minute timeout.
	HTTPClient *http.Client
	// MaxBytes caps every document read or fetched (the entry point and
	// each referenced file); 0 means DefaultMaxBytes.
	MaxBytes int64
}

// ErrNotOpenAPI marks input that is readable but is not an OpenAPI or
// Swagger document: prose (markdown, HTML, text), AsyncAPI, any other
// JSON or YAML. Callers that also read prose docs branch on it.
var ErrNotOpenAPI = errors.New("not an OpenAPI or Swagger document")

// errParserPanic marks a panic inside the parser turned into an error.
var errParserPanic = errors.New("parser panic")

// LoadError is a document Load could not use, with where and what to do.
type LoadError struct {
	Doc      string // the location given to Load
	Location string // line and column, or the JSON path, when known
	Reason   string
	Hint     string // what to do about it
	Err      error  // the cause, for errors.Is: ErrNotOpenAPI, context errors, …
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.Doc)
	if e.Location != "" {
		b.WriteString(": " + e.Location)
	}
	b.WriteString(": " + e.Reason)
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads an OpenAPI 3.0/3.1 or Swagger 2.0 document, JSON or YAML,
// from a file path or an http(s) URL, follows its external $refs (files
// next to a file document; same-origin URLs for a URL document, never
// the other way round), normalises it into a Surface and runs Infer.
//
// Cosmetic damage (dangling refs, a $ref where a string belongs,
// circular schemas) becomes Surface.Warnings. A document that cannot be
// used at all gives a *LoadError; one that is not OpenAPI or Swagger
// matches ErrNotOpenAPI. Load never panics on any input.
//
// ctx bounds the whole load. The parser cannot be interrupted midway, so
// on cancellation Load returns at once and the abandoned parse finishes
// in the background (bounded by MaxBytes per file).
func Load(ctx context.Context, location string, opts Options) (*Surface, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	if strings.TrimSpace(location) == "" {
		return nil, &LoadError{Doc: location, Reason: "no document given", Hint: "pass a file path or an http(s) URL"}
	}
	src, err := openSource(ctx, location, opts)
	if err != nil {
		return nil, err
	}
	type result struct {
		s   *Surface
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			// libopenapi is a large parser fed hostile input: a panic in
			// it must become an error naming the document, not a crash.
			if p := recover(); p != nil {
				r = result{err: &LoadError{
					Doc:    location,
					Reason: fmt.Sprintf("internal error while %s this document: %v", src.phase, p),
					Hint:   "report it with the document attached; meanwhile check the document with an OpenAPI validator",
					Err:    fmt.Errorf("%w: %v\n%s", errParserPanic, p, debug.Stack()),
				}}
			}
			done <- r
		}()
		r.s, r.err = src.build(ctx)
	}()
	select {
	case r := <-done:
		var le *LoadError
		switch {
		case r.err == nil:
			return r.s, nil
		case errors.As(r.err, &le):
			return nil, r.err
		case ctx.Err() != nil:
			return nil, stopped(location, ctx.Err())
		default:
			return nil, &LoadError{Doc: location, Reason: r.err.Error(), Hint: "check the document with an OpenAPI validator", Err: r.err}
		}
	case <-ctx.Done():
		return nil, stopped(location, ctx.Err())
	}
}

func stopped(location string, err error) error {
	return &LoadError{Doc: location, Reason: "loading stopped: " + err.Error(),
		Hint: "allow more time, or check that the document and its references are reachable", Err: err}
}

// source is one document being loaded: its entry bytes and how its
// references are reached.
type source struct {
	location string
	opts     Options
	data     []byte
	// entryPath is the absolute entry file (file documents); baseURL the
	// entry URL (URL documents). Exactly one is set.
	entryPath string
	baseURL   *url.URL
	remote    *remoteFetcher
	// phase names the step under way, for an internal error's message;
	// only the loading goroutine touches it.
	phase string
}

func isURL(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func openSource(ctx context.Context, location string, opts Options) (*source, error) {
	s := &source{location: location, opts: opts, phase: "reading"}
	if isURL(location) {
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return nil, &LoadError{Doc: location, Reason: "not a valid URL", Hint: "pass an http(s) URL or a file path", Err: err}
		}
		s.remote = newRemoteFetcher(ctx, u, opts)
		data, final, err := s.remote.fetchEntry(u.String())
		if err != nil {
			return nil, &LoadError{Doc: location, Reason: err.Error(),
				Hint: "check the URL is reachable and serves the document itself, or download it and pass the file", Err: err}
		}
		// Relative refs and servers resolve against where the document
		// really is, after redirects.
		s.baseURL = final
		s.data = data
		return s, nil
	}
	abs, err := filepath.Abs(location)
	if err != nil {
		return nil, &LoadError{Doc: location, Reason: err.Error(), Hint: "pass a file path or an http(s) URL", Err: err}
	}
	s.entryPath = abs
	data, err := readCapped(abs, opts.MaxBytes)
	if err != nil {
		return nil, &LoadError{Doc: location, Reason: err.Error(), Hint: "pass a readable OpenAPI or Swagger file (or an http(s) URL)", Err: err}
	}
	s.data = data
	return s, nil
}

// readCapped reads a regular file of at most max bytes: a hostile $ref
// must not make Load read a device, a FIFO or a huge file.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, over the size limit of %d bytes", path, st.Size(), max)
	}
	// The file may grow between Stat and read.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over the size limit of %d bytes", path, max)
	}
	return data, nil
}

// build parses the entry document with libopenapi and converts the model.
func (s *source) build(ctx context.Context) (*Surface, error) {
	sum := sha256.Sum256(s.data)
	if len(bytes.TrimSpace(s.data)) == 0 {
		return nil, &LoadError{Doc: s.location, Reason: "the document is empty", Hint: "pass an OpenAPI or Swagger document", Err: ErrNotOpenAPI}
	}
	logs := newLogCollector()
	files := (*localFiles)(nil)
	cfg := &datamodel.DocumentConfiguration{
		Logger: slog.New(logs),
		// Schemas are converted from the YAML nodes (schema.go), so the
		// options shaping libopenapi's own schema objects (sibling-ref
		// rewriting, property merging) are left off.
		//
		// Refs under x- extensions are no part of the API; following them
		// costs time and reaches files a hostile doc chose.
		ExcludeExtensionRefs: true,
		// The eager JSON view only adds strictness (duplicate keys refuse
		// the whole document) and memory; nothing here reads it.
		SkipJSONConversion: true,
		// Nothing here reads the index's diagnostic metadata (descriptions,
		// enums, …). The circular reference check stays on although schema
		// conversion cuts cycles itself: libopenapi's ref lookup relies on
		// it, and recurses without end on a ref-only cycle (A → B → A)
		// the check has not marked.
		SkipMetadataCollection: true,
	}
	if s.entryPath != "" {
		files = newLocalFiles(filepath.Dir(s.entryPath), s.opts.MaxBytes)
		cfg.BasePath = filepath.Dir(s.entryPath)
		cfg.SpecFilePath = s.entryPath
		cfg.AllowFileReferences = true
		cfg.LocalFS = files
	} else {
		base := *s.baseURL
		base.RawQuery, base.Fragment = "", ""
		base.Path = path.Dir(base.Path)
		base.RawPath = ""
		cfg.BaseURL = &base
		cfg.AllowRemoteReferences = true
		cfg.RemoteURLHandler = s.remote.handler
	}

	s.phase = "parsing"
	doc, err := libopenapi.NewDocumentWithConfiguration(s.data, cfg)
	if err != nil {
		return nil, s.parseError(err)
	}
	info := doc.GetSpecInfo()
	b := newBuilder(ctx, s)
	s.phase = "repairing"
	b.repairLocalRefs(info.RootNode)
	s.phase = "modelling"
	out := &Surface{Source: Source{Location: s.location, SHA256: hex.EncodeToString(sum[:])}}
	switch info.SpecFormat {
	case datamodel.OAS2:
		if !strings.HasPrefix(info.Version, "2.") {
			return nil, &LoadError{Doc: s.location, Location: "swagger", Reason: fmt.Sprintf("Swagger %s is not supported", info.Version),
				Hint: "convert it to Swagger 2.0 or OpenAPI 3 first"}
		}
		out.Source.Format = "swagger " + info.Version
		m, err := doc.BuildV2Model()
		b.addModelErrors(err, doc.GetRolodex())
		if m == nil {
			return nil, s.modelError(err)
		}
		s.phase = "converting"
		if err := b.fromV2(out, &m.Model, m.Index); err != nil {
			return nil, err
		}
	case datamodel.OAS3, datamodel.OAS31, datamodel.OAS32:
		out.Source.Format = "openapi " + info.Version
		if !knownOpenAPIVersion(info.Version) {
			b.warn("unsupported-version", "openapi", fmt.Sprintf("OpenAPI version %q is not one Spindle knows (3.0, 3.1, 3.2); read as %s", info.Version, readAs(info.SpecFormat)))
		}
		m, err := doc.BuildV3Model()
		b.addModelErrors(err, doc.GetRolodex())
		if m == nil {
			return nil, s.modelError(err)
		}
		s.phase = "converting"
		if err := b.fromV3(out, &m.Model); err != nil {
			return nil, err
		}
	default:
		kind := info.SpecType
		if kind == "asyncapi" {
			kind = "AsyncAPI"
		}
		return nil, &LoadError{Doc: s.location, Reason: fmt.Sprintf("%s: it is an %s document", ErrNotOpenAPI, kind),
			Hint: "pass an OpenAPI 3 or Swagger 2.0 document", Err: ErrNotOpenAPI}
	}
	for _, m := range logs.messages() {
		b.message(m)
	}
	out.Source.Files = 1
	if files != nil {
		out.Source.Files += files.count(s.entryPath)
	}
	if s.remote != nil {
		out.Source.Files = s.remote.count()
	}
	out.Warnings = b.warnings()
	// Empty lists, not nulls, for JSON readers; Security keeps nil = none.
	if out.Servers == nil {
		out.Servers = []Server{}
	}
	if out.SecuritySchemes == nil {
		out.SecuritySchemes = []SecurityScheme{}
	}
	if out.Operations == nil {
		out.Operations = []Operation{}
	}
	if out.Warnings == nil {
		out.Warnings = []Warning{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.phase = "inferring traits of"
	Infer(out)
	return out, nil
}

func knownOpenAPIVersion(v string) bool {
	for _, p := range []string{"3.0.", "3.1.", "3.2."} {
		if strings.HasPrefix(v, p) || v == strings.TrimSuffix(p, ".") {
			return true
		}
	}
	return false
}

func readAs(format string) string {
	switch format {
	case datamodel.OAS31:
		return "3.1"
	case datamodel.OAS32:
		return "3.2"
	}
	return "3.0"
}

var (
	yamlLineRe  = regexp.MustCompile(`(?:yaml: )?line (\d+)(?:, column (\d+))?: (.*)`)
	yamlPosRe   = regexp.MustCompile(`^(.*?) ?at L(\d+)\.C(\d+)(?:-(?:L\d+\.)?C\d+)?: (.*)$`)
	topKeyYAML  = regexp.MustCompile(`(?m)^(?:openapi|swagger)\s*:`)
	topKeyJSON  = regexp.MustCompile(`"(?:openapi|swagger)"\s*:`)
	asyncAPIKey = regexp.MustCompile(`(?m)^(?:asyncapi\s*:|\s*"asyncapi"\s*:)`)
)

// parseError explains why libopenapi refused the entry bytes: not an
// OpenAPI document at all, or one with broken syntax (with its line).
func (s *source) parseError(err error) error {
	msg := err.Error()
	hasKey := topKeyYAML.Match(s.data) || topKeyJSON.Match(s.data)
	if !hasKey {
		reason := "no top-level `openapi` or `swagger` key"
		if looksLikeProse(s.data) {
			reason = "it reads as prose (markdown, HTML or text), with no top-level `openapi` or `swagger` key"
		} else if asyncAPIKey.Match(s.data) {
			reason = "it is an AsyncAPI document"
		}
		return &LoadError{Doc: s.location, Reason: ErrNotOpenAPI.Error() + ": " + reason,
			Hint: "pass an OpenAPI 3 or Swagger 2.0 document (JSON or YAML)", Err: ErrNotOpenAPI}
	}
	le := &LoadError{Doc: s.location, Reason: strings.TrimPrefix(msg, "unable to parse specification: "),
		Hint: "fix the document's syntax there (or ask the vendor for a valid copy) and load again", Err: err}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(s.data, se.Offset)
		le.Location = fmt.Sprintf("line %d, column %d", line, col)
		le.Reason = "invalid JSON: " + se.Error()
		return le
	}
	syntax := "invalid YAML: "
	if t := bytes.TrimSpace(s.data); len(t) > 0 && t[0] == '{' {
		syntax = "invalid JSON: "
	}
	if m := yamlPosRe.FindStringSubmatch(le.Reason); m != nil {
		le.Location = "line " + m[2] + ", column " + m[3]
		le.Reason = syntax + m[4]
		if ctx := strings.TrimPrefix(m[1], "go-yaml load error in "); ctx != "" && ctx != m[1] {
			le.Reason += " (" + ctx + ")"
		}
		return le
	}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		le.Location = "line " + m[1]
		if m[2] != "" {
			le.Location += ", column " + m[2]
		}
		le.Reason = syntax + m[3]
		return le
	}
	if strings.Contains(msg, "version") {
		le.Location = "openapi"
		le.Hint = "set `openapi: 3.0.3` (or `swagger: \"2.0\"`) to the version the document follows"
	}
	return le
}

// modelError explains a document libopenapi parsed but could not model.
func (s *source) modelError(err error) error {
	reason := "the document could not be modelled"
	if err != nil {
		msgs := strings.Split(err.Error(), "\n")
		if len(msgs) > 3 {
			msgs = append(msgs[:3], fmt.Sprintf("and %d more", len(msgs)-3))
		}
		reason += ": " + strings.Join(msgs, "; ")
	}
	return &LoadError{Doc: s.location, Reason: reason,
		Hint: "fix the references named (an OpenAPI validator shows them all) and load again", Err: err}
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// looksLikeProse says whether bytes read as documentation prose rather
// than a structured document: HTML, markdown or plain text.
func looksLikeProse(data []byte) bool {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return false
	}
	if t[0] == '<' {
		return true // HTML or XML-ish
	}
	if t[0] == '{' || t[0] == '[' {
		return false
	}
	head := t
	if len(head) > 4096 {
		head = head[:4096]
	}
	for _, line := range strings.Split(string(head), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "# ") || strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "```") {
			return true
		}
	}
	// Text with no "key: value" line at all is prose, not YAML.
	for _, line := range strings.Split(string(head), "\n") {
		if i := strings.Index(line, ":"); i > 0 && !strings.Contains(line[:i], " ") {
			return false
		}
	}
	return true
}

// itoa keeps warning locations compact.
func itoa(i int) string { return strconv.Itoa(i) }

// Package apisurface reads vendor API documentation (OpenAPI 3.0, 3.1 and
// Swagger 2.0; one file, many files with external $refs, or a URL) into a
// normalised API surface: servers, security schemes, operations with
// their parameters and response schemas, and — for list operations — the
// inferred traits an integration needs (paging style, where the records
// are, which NHI kind they hold), each with a confidence and its evidence.
//
// The surface is the one picture of a vendor's API that the sandbox, the
// build agent and drift checks share. Docs are hostile input: loading is
// bounded, never panics, and turns cosmetic damage into warnings.
package apisurface

import (
	"strconv"

	"github.com/spindlehq/spindle/internal/nhi"
)

// Surface is a vendor API as its documentation describes it.
type Surface struct {
	Source  Source `json:"source"`
	Title   string `json:"title"`
	Version string `json:"version"`
	// Description is the document's own introduction (info.description);
	// inference reads it for auth hints such as a header value prefix.
	Description     string           `json:"description,omitempty"`
	Servers         []Server         `json:"servers"`
	SecuritySchemes []SecurityScheme `json:"security_schemes"`
	// Security is the document-wide requirement: any one alternative
	// satisfies it. Empty means none is declared.
	Security   []Requirement `json:"security"`
	Operations []Operation   `json:"operations"`
	Warnings   []Warning     `json:"warnings"`
}

// Source says where the document came from.
type Source struct {
	Location string `json:"location"` // the file path or URL given
	Format   string `json:"format"`   // "openapi 3.0.3", "openapi 3.1.0", "swagger 2.0"
	SHA256   string `json:"sha256"`   // of the entry document's bytes
	Files    int    `json:"files"`    // documents read, the entry point included
}

// Server is a base URL; Variables fill its {templates}.
type Server struct {
	URL         string           `json:"url"`
	Description string           `json:"description,omitempty"`
	Variables   []ServerVariable `json:"variables,omitempty"`
}

// ServerVariable is one {template} in a server URL.
type ServerVariable struct {
	Name        string   `json:"name"`
	Default     string   `json:"default"`
	Enum        []string `json:"enum,omitempty"`
	Description string   `json:"description,omitempty"`
}

// SecurityScheme is one way to authenticate, normalised across OpenAPI
// versions (Swagger 2.0 "basic" becomes Type http, Scheme basic).
type SecurityScheme struct {
	Name string `json:"name"` // the key under components.securitySchemes
	// Type is apiKey, http, oauth2, openIdConnect or mutualTLS.
	Type string `json:"type"`
	// In and ParamName: apiKey's location (header, query, cookie) and name.
	In        string `json:"in,omitempty"`
	ParamName string `json:"param_name,omitempty"`
	// Scheme: http's scheme (bearer, basic, …), lower-case.
	Scheme       string      `json:"scheme,omitempty"`
	BearerFormat string      `json:"bearer_format,omitempty"`
	Flows        []OAuthFlow `json:"flows,omitempty"`
	OpenIDURL    string      `json:"openid_url,omitempty"`
	Description  string      `json:"description,omitempty"`
	// Prefix is a value prefix the description tells clients to send
	// before the secret in an apiKey header ("SSWS ", "Token token="),
	// inferred with its evidence; empty when none is found.
	Prefix         string   `json:"prefix,omitempty"`
	PrefixEvidence []string `json:"prefix_evidence,omitempty"`
}

// OAuthFlow is one OAuth 2.0 flow of a scheme.
type OAuthFlow struct {
	Type             string  `json:"type"` // clientCredentials, authorizationCode, implicit, password
	TokenURL         string  `json:"token_url,omitempty"`
	AuthorizationURL string  `json:"authorization_url,omitempty"`
	RefreshURL       string  `json:"refresh_url,omitempty"`
	Scopes           []Scope `json:"scopes,omitempty"`
}

// Scope is an OAuth scope and what it grants.
type Scope struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Requirement is one alternative of a security requirement: every listed
// scheme together, with the scopes each needs.
type Requirement struct {
	Schemes []SchemeUse `json:"schemes"`
}

// SchemeUse names a scheme and the scopes an operation needs from it.
type SchemeUse struct {
	Scheme string   `json:"scheme"`
	Scopes []string `json:"scopes,omitempty"`
}

// Operation is one method on one path.
type Operation struct {
	ID          string      `json:"id,omitempty"` // operationId
	Method      string      `json:"method"`       // upper-case
	Path        string      `json:"path"`
	Summary     string      `json:"summary,omitempty"`
	Description string      `json:"description,omitempty"`
	Tags        []string    `json:"tags,omitempty"`
	Deprecated  bool        `json:"deprecated,omitempty"`
	Parameters  []Parameter `json:"parameters,omitempty"` // path-level and operation-level, merged
	// Security: nil inherits the document's; an empty, non-nil list means
	// the operation is explicitly unauthenticated.
	Security []Requirement `json:"security"`
	// Response is the schema of the success (2xx) JSON response, nil when
	// the doc gives none; ResponseStatus its status code ("200").
	Response       *Schema `json:"response,omitempty"`
	ResponseStatus string  `json:"response_status,omitempty"`
	// ResponseHeaders the success response declares (a Link header hints
	// at link paging), lower-case.
	ResponseHeaders []string `json:"response_headers,omitempty"`
	// ErrorResponses are the JSON schemas of the documented error
	// responses, keyed by status as the doc writes it ("401", "4XX",
	// "default"), so the sandbox can answer in the vendor's error style;
	// nil when the doc gives none.
	ErrorResponses map[string]*Schema `json:"error_responses,omitempty"`
	// List holds the inferred list traits; nil when the operation does not
	// return a collection.
	List *ListTraits `json:"list,omitempty"`
}

// Parameter is one operation parameter.
type Parameter struct {
	Name        string  `json:"name"`
	In          string  `json:"in"` // path, query, header, cookie
	Required    bool    `json:"required,omitempty"`
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
	Deprecated  bool    `json:"deprecated,omitempty"`
}

// Schema is a JSON Schema reduced to what generation and mapping need.
// Cycles are cut: a schema met again on its own path becomes a Schema with
// Ref set and Circular true, and no children. Every use of a component is
// its own copy (nothing is shared between operations), and a document's
// schemas are bounded in depth and in total size; where a bound cuts a
// schema the surface carries a schema-too-deep or schema-too-large warning.
//
// Ref names the component ("#/components/schemas/User" → "User"; a
// whole-file ref "models/ssh_key.yml" → "ssh_key"). An inline schema whose
// allOf extends exactly one $ref takes that ref's name: it is "an X with
// extras". Type is "object" when only properties are given and "array"
// when only items are.
type Schema struct {
	Ref         string `json:"ref,omitempty"`  // component name when it came from a $ref
	Type        string `json:"type,omitempty"` // object, array, string, integer, number, boolean; "" when unconstrained
	Format      string `json:"format,omitempty"`
	Description string `json:"description,omitempty"`
	Nullable    bool   `json:"nullable,omitempty"`
	Enum        []any  `json:"enum,omitempty"`
	Example     any    `json:"example,omitempty"`
	// Default is the schema's `default` value, nil when none is given.
	Default any `json:"default,omitempty"`
	// Properties in document order; Required lists the required names.
	Properties           []Property `json:"properties,omitempty"`
	Required             []string   `json:"required,omitempty"`
	AdditionalProperties *Schema    `json:"additional_properties,omitempty"`
	Items                *Schema    `json:"items,omitempty"`
	// OneOf/AnyOf alternatives; allOf is merged into Properties.
	OneOf     []*Schema `json:"one_of,omitempty"`
	Minimum   *float64  `json:"minimum,omitempty"`
	Maximum   *float64  `json:"maximum,omitempty"`
	MinLength *int      `json:"min_length,omitempty"`
	MaxLength *int      `json:"max_length,omitempty"`
	MinItems  *int      `json:"min_items,omitempty"`
	MaxItems  *int      `json:"max_items,omitempty"`
	Pattern   string    `json:"pattern,omitempty"`
	ReadOnly  bool      `json:"read_only,omitempty"`
	WriteOnly bool      `json:"write_only,omitempty"`
	Circular  bool      `json:"circular,omitempty"`
}

// Property is a named property of an object schema.
type Property struct {
	Name   string  `json:"name"`
	Schema *Schema `json:"schema"`
}

// Paging styles, the integration spec's pagination types.
const (
	PageLinkHeader = "link_header"
	PageNextURL    = "next_url"
	PageCursor     = "cursor"
	PagePageNumber = "page_number"
	PageOffset     = "offset"
	PageToken      = "token"
	PageHeader     = "header"
	PageNone       = "none"
	// PageUnknown: the operation pages in a way no known style explains;
	// reported as such, never guessed.
	PageUnknown = "unknown"
)

// ListTraits are what an integration needs to read a list operation.
type ListTraits struct {
	// RecordsPath is the body path of the record array ("" for a bare
	// array), in the spec's dot-path or JSON Pointer syntax.
	RecordsPath string `json:"records_path"`
	// Records is the schema of one record. A scalar schema (a string, an
	// integer) means the list holds bare identifiers or names, each record
	// its own id: {"data": {"keys": ["a", "b"]}}.
	Records     *Schema   `json:"records"`
	RecordsConf Inference `json:"records_inference"`
	Paging      Paging    `json:"paging"`
	Kind        nhi.Kind  `json:"kind,omitempty"` // the NHI or context kind it likely holds; "" when none fits
	KindConf    Inference `json:"kind_inference"`
	// Query holds the query parameters every request of the list must
	// carry with the one value the doc allows (a required parameter with
	// a single enum value or a default: list=true where GET stands in
	// for a LIST verb); nil when there are none.
	Query map[string]string `json:"query,omitempty"`
	// Envelope is the success flag the responses carry, when they do;
	// nil otherwise.
	Envelope *Envelope `json:"envelope,omitempty"`
}

// Envelope is a success flag every response of an operation carries, as
// RPC-style APIs do: {"ok": true, ...} on success, {"ok": false, "error":
// "invalid_auth"} on failure. A client must check it before reading the
// records, since such APIs often answer errors with HTTP 200.
type Envelope struct {
	// OKField is the body path of the boolean flag; true means success.
	OKField string `json:"ok_field"`
	// ErrorField is the body path of the error code or message when the
	// flag is false; "" when the doc shows none.
	ErrorField string `json:"error_field,omitempty"`
	// InBand says errors come back with a 2xx status, so that only the
	// flag tells them from data (rate limiting may still use 429).
	InBand    bool      `json:"in_band,omitempty"`
	Inference Inference `json:"inference"`
}

// Paging is an inferred paging style with the names an integration needs,
// in the integration spec's vocabulary (integration.Pagination).
type Paging struct {
	Style       string    `json:"style"`
	SizeParam   string    `json:"size_param,omitempty"`
	MaxPageSize int       `json:"max_page_size,omitempty"` // from the size parameter's maximum
	LimitParam  string    `json:"limit_param,omitempty"`
	OffsetParam string    `json:"offset_param,omitempty"`
	PageParam   string    `json:"page_param,omitempty"`
	StartPage   *int      `json:"start_page,omitempty"`
	CursorParam string    `json:"cursor_param,omitempty"`
	CursorPath  string    `json:"cursor_path,omitempty"`
	NextURLPath string    `json:"next_url_path,omitempty"`
	Header      string    `json:"header,omitempty"`
	MoreField   string    `json:"more_field,omitempty"`
	TotalField  string    `json:"total_field,omitempty"`
	Inference   Inference `json:"inference"`
}

// Inference is how sure an inference is, and why.
type Inference struct {
	// Confidence is 0..1: 0.9+ the doc says so outright; 0.6–0.9 strong
	// conventional signals; below 0.6 a guess a person should check.
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence"`
}

// Warning is cosmetic damage or an unsupported feature met while loading:
// reported, never a refusal, never silently guessed around.
type Warning struct {
	Code     string `json:"code"`               // e.g. "dangling-ref", "ref-in-string", "unsupported-paging"
	Location string `json:"location,omitempty"` // file and JSON/YAML path or line
	Message  string `json:"message"`
}

// At follows body path segments through object properties (an array's
// items for a numeric segment; the first oneOf alternative that has the
// property when the schema itself does not). It returns nil when the path
// leaves the schema.
func (s *Schema) At(segs []string) *Schema {
	for _, seg := range segs {
		if s == nil {
			return nil
		}
		var next *Schema
		for _, p := range s.Properties {
			if p.Name == seg {
				next = p.Schema
				break
			}
		}
		if next == nil && s.Type == "array" {
			if _, err := strconv.Atoi(seg); err == nil {
				next = s.Items
			}
		}
		if next == nil {
			for _, alt := range s.OneOf {
				if n := alt.At([]string{seg}); n != nil {
					next = n
					break
				}
			}
		}
		s = next
	}
	return s
}

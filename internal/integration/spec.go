// Package integration defines the integration spec (apiVersion spindle/v1):
// the declarative document that says how to read one vendor's API into the
// canonical NHI model. It loads specs from YAML with file:line errors,
// validates them against a published JSON Schema, compiles their CEL
// expressions, and applies the policy lint that keeps generated
// integrations read-only and bound to one host.
package integration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// APIVersion is the only spec version this build reads.
const APIVersion = "spindle/v1"

// Spec is one integration.
type Spec struct {
	APIVersion string     `yaml:"apiVersion" json:"apiVersion"`
	Kind       string     `yaml:"kind" json:"kind"`
	Metadata   Metadata   `yaml:"metadata" json:"metadata"`
	Connection Connection `yaml:"connection" json:"connection"`
	Defaults   Defaults   `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Streams    []Stream   `yaml:"streams" json:"streams"`
}

// Metadata says what the integration is and who answers for it.
type Metadata struct {
	Name        string     `yaml:"name" json:"name"`
	Vendor      string     `yaml:"vendor,omitempty" json:"vendor,omitempty"`
	Category    string     `yaml:"category,omitempty" json:"category,omitempty"`
	Owner       string     `yaml:"owner,omitempty" json:"owner,omitempty"`
	ReviewEvery Duration   `yaml:"review_every,omitempty" json:"review_every,omitempty"`
	SourceDoc   *SourceDoc `yaml:"source_doc,omitempty" json:"source_doc,omitempty"`
	Description string     `yaml:"description,omitempty" json:"description,omitempty"`
}

// SourceDoc pins the vendor document the integration was built from.
type SourceDoc struct {
	Location string `yaml:"location" json:"location"`
	SHA256   string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
}

// Connection is where and how to connect. Everything here but the
// credential reference is non-secret.
type Connection struct {
	BaseURL string               `yaml:"base_url" json:"base_url"`
	Config  map[string]ConfigVar `yaml:"config,omitempty" json:"config,omitempty"`
	Auth    Auth                 `yaml:"auth" json:"auth"`
}

// ConfigVar declares a non-secret input such as a tenant subdomain.
type ConfigVar struct {
	Required    bool   `yaml:"required,omitempty" json:"required,omitempty"`
	Default     string `yaml:"default,omitempty" json:"default,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Auth types.
const (
	AuthAPIKey                  = "api_key"
	AuthBearer                  = "bearer"
	AuthBasic                   = "basic"
	AuthOAuth2ClientCredentials = "oauth2_client_credentials"
	AuthNone                    = "none"
)

// AuthTypes lists the supported auth types.
var AuthTypes = []string{AuthAPIKey, AuthBearer, AuthBasic, AuthOAuth2ClientCredentials, AuthNone}

// Auth says how requests authenticate. Credential is a vault reference
// (a name), never a secret value.
type Auth struct {
	Type       string   `yaml:"type" json:"type"`
	In         string   `yaml:"in,omitempty" json:"in,omitempty"`     // api_key: header (default) | query
	Name       string   `yaml:"name,omitempty" json:"name,omitempty"` // api_key: header or query parameter name
	Prefix     string   `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Credential string   `yaml:"credential,omitempty" json:"credential,omitempty"`
	Username   string   `yaml:"username,omitempty" json:"username,omitempty"`   // basic: non-secret user, may template {config.x}
	ClientID   string   `yaml:"client_id,omitempty" json:"client_id,omitempty"` // oauth2: non-secret client id, may template {config.x}
	TokenURL   string   `yaml:"token_url,omitempty" json:"token_url,omitempty"` // oauth2: absolute, or a path on base_url
	Scopes     []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
}

// Defaults apply to every stream unless the stream overrides them.
type Defaults struct {
	Headers          map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Query            map[string]string `yaml:"query,omitempty" json:"query,omitempty"`
	Pagination       *Pagination       `yaml:"pagination,omitempty" json:"pagination,omitempty"`
	RateLimit        *RateLimit        `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
	Retry            *Retry            `yaml:"retry,omitempty" json:"retry,omitempty"`
	Timeout          Duration          `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	MaxResponseBytes int64             `yaml:"max_response_bytes,omitempty" json:"max_response_bytes,omitempty"`
	Concurrency      int               `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
}

// Pagination types.
const (
	PageLinkHeader = "link_header"
	PageNextURL    = "next_url"
	PageCursor     = "cursor"
	PagePageNumber = "page_number"
	PageOffset     = "offset"
	PageToken      = "token"
	PageHeader     = "header"
	PageNone       = "none"
)

// PaginationTypes lists the supported paging styles.
var PaginationTypes = []string{PageLinkHeader, PageNextURL, PageCursor, PagePageNumber, PageOffset, PageToken, PageHeader, PageNone}

// Pagination says how to walk a list. Body paths are dot paths
// ("meta.next_cursor") or JSON Pointers ("/@odata.nextLink").
type Pagination struct {
	Type string `yaml:"type" json:"type"`
	// PageSize is sent in SizeParam (page_number, cursor, token, link_header,
	// next_url, header) or LimitParam (offset).
	PageSize  int    `yaml:"page_size,omitempty" json:"page_size,omitempty"`
	SizeParam string `yaml:"size_param,omitempty" json:"size_param,omitempty"`
	// offset
	LimitParam  string `yaml:"limit_param,omitempty" json:"limit_param,omitempty"`
	OffsetParam string `yaml:"offset_param,omitempty" json:"offset_param,omitempty"`
	// page_number
	PageParam string `yaml:"page_param,omitempty" json:"page_param,omitempty"`
	StartPage *int   `yaml:"start_page,omitempty" json:"start_page,omitempty"`
	// cursor and token: the value at CursorPath is sent as CursorParam.
	CursorPath  string `yaml:"cursor_path,omitempty" json:"cursor_path,omitempty"`
	CursorParam string `yaml:"cursor_param,omitempty" json:"cursor_param,omitempty"`
	// next_url: the absolute or relative URL of the next page at NextURLPath.
	NextURLPath string `yaml:"next_url_path,omitempty" json:"next_url_path,omitempty"`
	// header: the response header carrying the next page (a URL, or a value
	// sent back as CursorParam).
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	// Stop conditions: MoreField (a boolean that is false on the last page),
	// TotalField (the total count); a short page always stops offset and
	// page_number paging.
	MoreField  string `yaml:"more_field,omitempty" json:"more_field,omitempty"`
	TotalField string `yaml:"total_field,omitempty" json:"total_field,omitempty"`
	MaxPages   int    `yaml:"max_pages,omitempty" json:"max_pages,omitempty"`
}

// RateLimit bounds the request rate per host.
type RateLimit struct {
	RequestsPerSecond float64 `yaml:"requests_per_second" json:"requests_per_second"`
	Burst             int     `yaml:"burst,omitempty" json:"burst,omitempty"`
}

// Retry says which failures to retry and how long to back off.
type Retry struct {
	MaxAttempts     int      `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	On              []int    `yaml:"on,omitempty" json:"on,omitempty"`
	Backoff         string   `yaml:"backoff,omitempty" json:"backoff,omitempty"` // exponential (default) | constant
	InitialInterval Duration `yaml:"initial_interval,omitempty" json:"initial_interval,omitempty"`
	MaxInterval     Duration `yaml:"max_interval,omitempty" json:"max_interval,omitempty"`
	// MaxWait caps how long a Retry-After or rate-limit reset may pause a run.
	MaxWait Duration `yaml:"max_wait,omitempty" json:"max_wait,omitempty"`
}

// Stream reads one list from the API and maps its records.
type Stream struct {
	Name       string      `yaml:"name" json:"name"`
	Request    Request     `yaml:"request" json:"request"`
	ReadOnly   bool        `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	ForEach    *ForEach    `yaml:"for_each,omitempty" json:"for_each,omitempty"`
	Pagination *Pagination `yaml:"pagination,omitempty" json:"pagination,omitempty"`
	// Records is the body path of the record list ("" or "." for a bare array).
	Records string `yaml:"records,omitempty" json:"records,omitempty"`
	// ErrorWhen is a CEL condition over `body` (and `status`) that marks a
	// 200 response as an error; ErrorMessage a CEL string for the report.
	ErrorWhen    string `yaml:"error_when,omitempty" json:"error_when,omitempty"`
	ErrorMessage string `yaml:"error_message,omitempty" json:"error_message,omitempty"`
	// Emits is the kind of record the stream produces. A stream without
	// Emits produces no records: it exists to feed for_each children.
	Emits         string            `yaml:"emits,omitempty" json:"emits,omitempty"`
	Map           map[string]string `yaml:"map,omitempty" json:"map,omitempty"`
	Relationships []RelationshipMap `yaml:"relationships,omitempty" json:"relationships,omitempty"`
}

// Request is what to ask for. Path is relative to the base URL and may
// template {config.name} and {alias.field} from for_each parents.
type Request struct {
	Method  string            `yaml:"method,omitempty" json:"method,omitempty"`
	Path    string            `yaml:"path" json:"path"`
	Query   map[string]string `yaml:"query,omitempty" json:"query,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"` // read_only POST searches only
}

// ForEach fans a stream out over the records of a parent stream.
type ForEach struct {
	Stream      string `yaml:"stream" json:"stream"`
	As          string `yaml:"as" json:"as"`
	Concurrency int    `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
}

// RelationshipMap declares edges from each record. ExternalID is CEL; when
// it yields a list, one edge per element; null yields none.
type RelationshipMap struct {
	Type       string `yaml:"type" json:"type"`
	Kind       string `yaml:"kind" json:"kind"`
	ExternalID string `yaml:"external_id" json:"external_id"`
	Privilege  string `yaml:"privilege,omitempty" json:"privilege,omitempty"`
}

// MapFields are the canonical fields a stream's map may set.
var MapFields = []string{"external_id", "name", "status", "created_at", "updated_at", "last_used_at",
	"expires_at", "last_rotated_at", "owner", "creator", "scopes", "privilege", "credential_type",
	"third_party", "publisher", "environment", "attributes", "kind"}

// Method returns the request method, GET when unset.
func (r Request) MethodOrGet() string {
	if r.Method == "" {
		return "GET"
	}
	return strings.ToUpper(r.Method)
}

// Duration is a time.Duration that also reads days ("90d") and writes
// itself back as text.
type Duration time.Duration

// ParseDuration reads Go durations with an optional leading number of days
// ("90d", "1d12h", "30s"), the same shapes the JSON Schema accepts.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("duration %q: want a duration such as 30s, 5m, 12h, 90d or 1d12h", s)
	var days float64
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 || strings.ContainsAny(s[:i], "+-eE") {
			return 0, bad
		}
		days, s = n, s[i+1:]
		if s == "" {
			return Duration(days * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || strings.HasPrefix(s, "-") {
		return 0, bad
	}
	return Duration(days*float64(24*time.Hour)) + Duration(d), nil
}

func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

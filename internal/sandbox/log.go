package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// LogEntry is one request the sandbox answered. It never holds a
// credential: header values are not logged, and query parameters that
// carry one are redacted.
type LogEntry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`            // as requested, escaped
	Query  string    `json:"query,omitempty"` // credential parameters redacted
	Status int       `json:"status"`
	// Operation is the matched operation ("GET /services/{id}") or token
	// endpoint ("POST /oauth/token"); "" when nothing matched.
	Operation string `json:"operation,omitempty"`
	// Scheme names the security scheme(s) that authenticated the request,
	// "+"-joined; "" when none did (or none was required).
	Scheme string   `json:"scheme,omitempty"`
	Scopes []string `json:"scopes,omitempty"` // the scopes the credential granted
	// Fault lists the injected faults, ", "-joined, in ParseFaults syntax.
	Fault    string        `json:"fault,omitempty"`
	Bytes    int           `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

func (e *LogEntry) addFault(f string) {
	if e.Fault != "" {
		e.Fault += ", "
	}
	e.Fault += f
}

// maxLogEntries bounds the log; past it the oldest half is dropped.
const maxLogEntries = 100_000

type requestLog struct {
	mu      sync.Mutex
	entries []LogEntry
	dropped int
	max     int
}

func (l *requestLog) add(e LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= l.max {
		half := len(l.entries) / 2
		l.dropped += half
		l.entries = append(l.entries[:0:0], l.entries[half:]...)
	}
	l.entries = append(l.entries, e)
}

// RequestLog returns a copy of the request log, oldest first.
func (sb *Sandbox) RequestLog() []LogEntry {
	sb.log.mu.Lock()
	defer sb.log.mu.Unlock()
	out := make([]LogEntry, len(sb.log.entries))
	for i, e := range sb.log.entries {
		e.Scopes = slices.Clone(e.Scopes)
		out[i] = e
	}
	return out
}

// DroppedLogEntries is how many of the oldest entries the bounded log
// has dropped.
func (sb *Sandbox) DroppedLogEntries() int {
	sb.log.mu.Lock()
	defer sb.log.mu.Unlock()
	return sb.log.dropped
}

// redactedValue replaces credentials in logged queries.
const redactedValue = "REDACTED"

// credentialParam says whether a query parameter carries a credential.
func (sb *Sandbox) credentialParam(name string) bool {
	if strings.EqualFold(name, "access_token") {
		return true
	}
	for _, a := range sb.schemes {
		if a.typ == "apiKey" && a.in == "query" && a.param == name {
			return true
		}
	}
	return false
}

// cleanQuery is q without credential values, encoded in sorted order:
// for the log (redacted) and for the links the sandbox builds (dropped, so
// a next-page URL never echoes a key).
func (sb *Sandbox) cleanQuery(q url.Values, drop bool) url.Values {
	out := url.Values{}
	for k, vs := range q {
		if sb.credentialParam(k) {
			if !drop {
				out[k] = []string{redactedValue}
			}
			continue
		}
		out[k] = slices.Clone(vs)
	}
	return out
}

// requestKey identifies a request for burst faults: method, path and
// query without credentials.
func (sb *Sandbox) requestKey(r *http.Request) string {
	return r.Method + " " + r.URL.EscapedPath() + "?" + sb.cleanQuery(r.URL.Query(), true).Encode()
}

// recorder captures the status and size of a response for the log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (truncation
// flushes through it).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

package demo

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// authPrefix is Acme Cloud's Authorization scheme (PagerDuty-style).
const authPrefix = "Token token="

// ServeHTTP serves the Acme Cloud API. Order matters and mirrors real
// vendors: authentication first (so an unauthenticated caller learns
// nothing, not even which paths exist), then method, route and the fault
// knob, then the list itself.
func (v *Vendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !v.authorized(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the Acme Cloud API is read-only here: use GET")
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, BasePath+"/")
	parts := strings.Split(rest, "/")
	var stream string
	var serve func(http.ResponseWriter, *http.Request)
	switch {
	case rest == "users":
		stream, serve = StreamUsers, v.listUsers
	case rest == "service_accounts":
		stream, serve = StreamServiceAccounts, v.listServiceAccounts
	case len(parts) == 3 && parts[0] == "service_accounts" && parts[1] != "" && parts[2] == "keys":
		stream = StreamServiceAccountKeys
		serve = func(w http.ResponseWriter, r *http.Request) { v.listKeys(w, r, parts[1]) }
	case rest == "webhooks":
		stream, serve = StreamWebhooks, v.listWebhooks
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if stream == v.failStream {
		writeError(w, v.failStatus, errorCode(v.failStatus), "injected fault: "+http.StatusText(v.failStatus))
		return
	}
	serve(w, r)
}

// authorized checks the token and answers 401 or 403 when it fails. The
// messages never repeat what the caller presented: error bodies end up in
// logs and reports, and a mistyped token is still nearly a real one.
func (v *Vendor) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		w.Header().Set("WWW-Authenticate", `Token realm="acme-cloud"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing Authorization header; send Authorization: Token token=<api token>")
		return false
	}
	tok, ok := strings.CutPrefix(h, authPrefix)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Token realm="acme-cloud"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "unsupported Authorization scheme; send Authorization: Token token=<api token>")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(v.token)) != 1 {
		writeError(w, http.StatusForbidden, "forbidden", "the API token is not valid for this account")
		return false
	}
	return true
}

// listUsers pages with page/per_page and an RFC 8288 Link header; the body
// is a bare array.
func (v *Vendor) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, err := intParam(q, "per_page", 50, 1, 100)
	if err == nil {
		var page int
		page, err = intParam(q, "page", 1, 1, 0)
		if err == nil {
			last := pageCount(len(v.users), perPage)
			var links []string
			link := func(p int, rel string) {
				links = append(links, fmt.Sprintf("<%s>; rel=%q", pageURL(r, "page", p, "per_page", perPage), rel))
			}
			if page < last {
				link(page+1, "next")
			}
			if page > 1 {
				link(min(page-1, last), "prev")
				link(1, "first")
			}
			link(last, "last")
			w.Header().Set("Link", strings.Join(links, ", "))
			writeJSON(w, pageOf(v.users, page, perPage))
			return
		}
	}
	writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
}

// listServiceAccounts pages with an opaque cursor in meta.next_cursor.
func (v *Vendor) listServiceAccounts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 25, 1, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		i, ok := v.decodeCursor(c)
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid_cursor", "cursor is not one this API issued")
			return
		}
		start = i + 1
	}
	end := min(start+limit, len(v.accounts))
	var next *string
	if end < len(v.accounts) {
		c := encodeCursor(v.accounts[end-1].ID)
		next = &c
	}
	type meta struct {
		NextCursor *string `json:"next_cursor"`
	}
	writeJSON(w, struct {
		Data []serviceAccount `json:"data"`
		Meta meta             `json:"meta"`
	}{v.accounts[start:end], meta{next}})
}

// Cursors are keyset cursors ("after this ID"), opaque to the caller as
// real vendors make them, so a client cannot page by arithmetic.
func encodeCursor(afterID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + afterID))
}

func (v *Vendor) decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	id, ok := strings.CutPrefix(string(b), "after:")
	if !ok {
		return 0, false
	}
	i, ok := v.accIndex[id]
	return i, ok
}

// listKeys pages one account's keys with limit/offset, a "more" flag and
// the total.
func (v *Vendor) listKeys(w http.ResponseWriter, r *http.Request, accountID string) {
	if _, ok := v.accIndex[accountID]; !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such service account")
		return
	}
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 20, 1, 100)
	if err == nil {
		var offset int
		offset, err = intParam(q, "offset", 0, 0, 0)
		if err == nil {
			keys := v.keys[accountID]
			start := min(offset, len(keys))
			end := start + min(limit, len(keys)-start)
			writeJSON(w, struct {
				Keys  []apiKey `json:"keys"`
				More  bool     `json:"more"`
				Total int      `json:"total"`
			}{keys[start:end], end < len(keys), len(keys)})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
}

// listWebhooks pages with page (from 1) and page_size, reporting
// total_pages.
func (v *Vendor) listWebhooks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, err := intParam(q, "page_size", 20, 1, 100)
	if err == nil {
		var page int
		page, err = intParam(q, "page", 1, 1, 0)
		if err == nil {
			writeJSON(w, struct {
				Webhooks   []webhook `json:"webhooks"`
				Page       int       `json:"page"`
				TotalPages int       `json:"total_pages"`
			}{pageOf(v.webhooks, page, size), page, pageCount(len(v.webhooks), size)})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
}

// intParam reads an integer query parameter: def when absent, an error
// below lo, clamped to hi when hi > 0 (as most vendors clamp page sizes).
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo {
		return 0, fmt.Errorf("%s must be an integer of at least %d", name, lo)
	}
	if hi > 0 && n > hi {
		n = hi
	}
	return n, nil
}

// pageCount is the number of pages of size holding n items; an empty list
// still has one (empty) page.
func pageCount(n, size int) int { return max(1, (n+size-1)/size) }

// pageOf returns page (from 1) of s; past the end it is empty, never null.
func pageOf[T any](s []T, page, size int) []T {
	if page-1 >= pageCount(len(s), size) { // before multiplying: page may be huge
		return []T{}
	}
	start := (page - 1) * size
	return s[start:min(start+size, len(s))]
}

// pageURL is the request's own absolute URL with two parameters replaced,
// as Link headers carry.
func pageURL(r *http.Request, k1 string, v1 int, k2 string, v2 int) string {
	q := r.URL.Query()
	q.Set(k1, strconv.Itoa(v1))
	q.Set(k2, strconv.Itoa(v2))
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u.String()
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, message
	writeJSONStatus(w, status, e)
}

func errorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "bad_request"
}

func writeJSON(w http.ResponseWriter, body any) { writeJSONStatus(w, http.StatusOK, body) }

func writeJSONStatus(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil { // only plain structs are marshalled; this is a bug
		http.Error(w, `{"error":{"code":"internal_error","message":"encoding failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

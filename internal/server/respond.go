package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/governance"
)

// apiError is every error's body.
type apiError struct {
	Error     string `json:"error"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"internal error: the response could not be encoded"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg, hint string) {
	writeJSON(w, status, apiError{Error: msg, Hint: hint, RequestID: info(r.Context()).id})
}

// failErr answers err: a governance refusal or a missing object with its
// own message (written for people, and free of secrets), anything else as
// a 500 whose detail goes only to the log.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var re *governance.RefusedError
	switch {
	case errors.As(err, &re):
		status := http.StatusConflict
		switch re.Rule {
		case governance.RuleRole, governance.RuleAuthor:
			status = http.StatusForbidden
		case governance.RuleBundle:
			status = http.StatusUnprocessableEntity
		}
		s.fail(w, r, status, re.Msg, "refused by the governance rule "+re.Rule)
	case errors.Is(err, governance.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, err.Error(), "")
	case errors.Is(err, custody.ErrNoKey):
		s.fail(w, r, http.StatusConflict, err.Error(), "approvals from the API are signed with a key the server holds")
	case errors.Is(err, authn.ErrUnauthenticated):
		s.fail(w, r, http.StatusUnauthorized, err.Error(), "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.fail(w, r, http.StatusServiceUnavailable, "the request was cancelled before it finished", "retry")
	default:
		s.log.Error("http request failed", "request_id", info(r.Context()).id, "error", err.Error())
		s.fail(w, r, http.StatusInternalServerError, "internal error", "the server logged it under this request id")
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, "the API is described at /openapi.json")
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", "the API is described at /openapi.json")
}

// badRequest is a client error with what to change.
type badRequest struct{ msg, hint string }

func (e *badRequest) Error() string { return e.msg }

// decode reads one JSON value into v: application/json, at most limit
// bytes, no unknown fields, nothing after it. An empty body is allowed
// when optional (v keeps its zero value).
func decode(r *http.Request, limit int64, v any, optional bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &badRequest{"request body too large", fmt.Sprintf("at most %d bytes", mbe.Limit)}
		}
		return &badRequest{"could not read the request body", ""}
	}
	if int64(len(body)) > limit {
		return &badRequest{"request body too large", fmt.Sprintf("at most %d bytes", limit)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &badRequest{"the request needs a JSON body", "see /openapi.json"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &badRequest{"the body must be JSON", "send Content-Type: application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &badRequest{"invalid JSON body: " + err.Error(), "see the request schema in /openapi.json"}
	}
	if dec.More() {
		return &badRequest{"invalid JSON body: more than one value", "send exactly one JSON object"}
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return &badRequest{"invalid JSON body: trailing data", "send exactly one JSON object"}
	}
	return nil
}

func (s *Server) failBad(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		status := http.StatusBadRequest
		if br.msg == "request body too large" {
			status = http.StatusRequestEntityTooLarge
		} else if br.msg == "the body must be JSON" {
			status = http.StatusUnsupportedMediaType
		}
		s.fail(w, r, status, br.msg, br.hint)
		return
	}
	s.failErr(w, r, err)
}

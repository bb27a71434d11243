package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/governance"
)

// reasonLimit bounds a rejection's reason: it is signed and audited.
const reasonLimit = 2000

// decide posts a signed approval or rejection as the signed-in person,
// with the key the server holds for them. The form carries the spec digest
// the person reviewed: a proposal that is not that spec is refused. The
// answer is a redirect to the review (the plain form post); htmx follows
// it and swaps the decision section in place.
func (h *handler) decide(decision string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r.Context())
		action := governance.ActionProposalApprove
		if decision == governance.DecisionReject {
			action = governance.ActionProposalReject
		}
		id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
		if err != nil || id < 1 {
			h.fail(w, r, http.StatusNotFound, "Proposal ids are positive numbers; pick one from the review queue.")
			return
		}
		if !s.can(action) {
			// The token's role caps its holder, whatever the person holds.
			h.showProposal(w, r, http.StatusForbidden, "You are signed in as "+string(s.Principal.Role)+", which may not "+decision+" proposals. Sign in with an approver's token.", "")
			return
		}
		in := governance.DecideInput{ProposalID: id, Approver: s.Principal.Name, Digest: strings.TrimSpace(r.PostForm.Get("digest"))}
		if in.Digest == "" {
			h.showProposal(w, r, http.StatusBadRequest, "The form did not say which spec you reviewed; reload the proposal and decide again.", "")
			return
		}
		if decision == governance.DecisionReject {
			in.Reason = strings.TrimSpace(r.PostForm.Get("reason"))
			if in.Reason == "" {
				h.showProposal(w, r, http.StatusUnprocessableEntity, "A rejection needs a reason, so the author knows what to change.", "")
				return
			}
			if len(in.Reason) > reasonLimit || strings.ContainsAny(in.Reason, "\x00") {
				h.showProposal(w, r, http.StatusUnprocessableEntity, "Keep the reason under "+strconv.Itoa(reasonLimit)+" characters of plain text.", "")
				return
			}
		}
		key, err := h.keys.SigningKey(r.Context(), s.Principal.Name)
		if errors.Is(err, custody.ErrNoKey) {
			// Its message says what to do and holds no key material.
			h.showProposal(w, r, http.StatusConflict, err.Error(), "")
			return
		}
		if err != nil || key == nil {
			h.internal(w, r, "unseal your signing key", err)
			return
		}
		in.Key = key
		var d *governance.Decided
		if decision == governance.DecisionApprove {
			d, err = h.env.Gov.Approve(r.Context(), in)
		} else {
			d, err = h.env.Gov.Reject(r.Context(), in)
		}
		if err != nil {
			var re *governance.RefusedError
			switch {
			case errors.Is(err, governance.ErrNotFound):
				h.fail(w, r, http.StatusNotFound, "There is no proposal "+strconv.FormatInt(id, 10)+"; pick one from the review queue.")
			case errors.As(err, &re):
				h.showProposal(w, r, refusalStatus(re.Rule), re.Msg, "")
			default:
				h.internal(w, r, "record your decision", err)
			}
			return
		}
		done := "rejected"
		switch {
		case decision == governance.DecisionApprove && d.Release != nil:
			done = "released"
		case decision == governance.DecisionApprove:
			done = "approved"
		}
		h.log.InfoContext(r.Context(), "dashboard: decision", "person", s.Principal.Name, "proposal", id, "decision", decision)
		http.Redirect(w, r, "/proposals/"+strconv.FormatInt(id, 10)+"?done="+done, http.StatusSeeOther)
	}
}

// refusalStatus is the HTTP status of a governance refusal.
func refusalStatus(rule string) int {
	switch rule {
	case governance.RuleRole, governance.RuleAuthor:
		return http.StatusForbidden
	case governance.RuleSignature:
		return http.StatusConflict
	}
	return http.StatusConflict // the proposal's state, digest or base moved on
}

// Package authn authenticates callers of the HTTP server: bearer API
// tokens for programs and people, and server-side sessions for people in
// browsers (logged in with a token). A token acts as one principal under
// one role; the principal must still hold that role at every request, so
// revoking the role (governance) takes the token's power away at once, and
// revoking the token ends the sessions opened with it.
//
// Secrets are stored only as hashes: a token's sha256, a session id's
// sha256. The plaintext token is returned once, by CreateToken, and never
// again; it appears in no error, log or audit entry.
package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
)

// TokenPrefix starts every API token, so a leaked one is recognisable (and
// secret scanners can be taught it).
const TokenPrefix = "spx_"

// Defaults.
const (
	DefaultTokenTTL   = 30 * 24 * time.Hour
	MaxTokenTTL       = 366 * 24 * time.Hour
	DefaultSessionTTL = 12 * time.Hour
	// lastUsedEvery throttles the last_used_at write: a busy token would
	// otherwise take the store's write lock on every request.
	lastUsedEvery = time.Minute
)

// tokenBytes of randomness in a token and a session id.
const tokenBytes = 32

// Principal is who a request acts as: a person or agent under the one role
// its token was issued for.
type Principal struct {
	Name    string          `json:"name"`
	Role    governance.Role `json:"role"`
	TokenID int64           `json:"token_id"`
}

// Token is a token's record; never its plaintext.
type Token struct {
	ID         int64           `json:"id"`
	Name       string          `json:"name"` // the person or agent it acts as
	Role       governance.Role `json:"role"`
	CreatedBy  string          `json:"created_by"`
	CreatedAt  time.Time       `json:"created_at"`
	ExpiresAt  time.Time       `json:"expires_at"`
	LastUsedAt *time.Time      `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time      `json:"revoked_at,omitempty"`
	RevokedBy  string          `json:"revoked_by,omitempty"`
}

// Active reports whether t can still authenticate at now (its principal's
// role aside).
func (t Token) Active(now time.Time) bool { return t.RevokedAt == nil && now.Before(t.ExpiresAt) }

// ErrUnauthenticated is wrapped by every failure to authenticate: an
// unknown, malformed, expired or revoked token or session, or a principal
// who no longer holds the token's role. Its message says which, without
// the secret.
var ErrUnauthenticated = errors.New("unauthenticated")

// Options configure a Service.
type Options struct {
	// Gov is required: roles are checked against governance.
	Gov *governance.Service
	// Audit is required: token creation and revocation, logins and logouts
	// are audited.
	Audit *audit.Log
	// SessionTTL bounds a browser session (default 12h; never past its
	// token's expiry).
	SessionTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service issues and checks tokens and sessions over one database (the
// store's DB(), SQLite or PostgreSQL).
type Service struct {
	db      *sql.DB
	o       Options
	csrfKey []byte
}

// New returns the service over db, whose schema the store's migrations
// created (00012_authn). It loads the server's CSRF key from the database,
// creating it on first use, so every server process on the database agrees.
func New(ctx context.Context, db *sql.DB, o Options) (*Service, error) {
	switch {
	case db == nil:
		return nil, errors.New("authn: no database; open the store and pass its DB()")
	case o.Gov == nil:
		return nil, errors.New("authn: no governance service; roles are checked there")
	case o.Audit == nil:
		return nil, errors.New("authn: no audit log; token changes must be audited")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	s := &Service{db: db, o: o}
	key, err := s.serverKey(ctx, "csrf")
	if err != nil {
		return nil, err
	}
	s.csrfKey = key
	return s, nil
}

// serverKey reads the named random key, creating it when missing. Two
// processes creating it at once both read the one that won.
func (s *Service) serverKey(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO authn_keys (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, fresh, s.nowNanos()); err != nil {
		return nil, fmt.Errorf("authn: create the %s key: %w", name, err)
	}
	var key []byte
	if err := s.db.QueryRowContext(ctx, `SELECT secret FROM authn_keys WHERE name = ?`, name).Scan(&key); err != nil {
		return nil, fmt.Errorf("authn: read the %s key: %w", name, err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("authn: the stored %s key is damaged (%d bytes); delete its authn_keys row to make a new one (open sessions' forms will need a reload)", name, len(key))
	}
	return key, nil
}

func (s *Service) now() time.Time  { return s.o.Now().UTC() }
func (s *Service) nowNanos() int64 { return s.now().UnixNano() }
func fromNanos(n int64) time.Time  { return time.Unix(0, n).UTC() }
func hashHex(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomString() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("authn: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormed reports whether s looks like a token: the prefix and 43
// base64url characters. Checked before hashing so junk is refused cheaply
// and uniformly.
func wellFormed(tok string) bool {
	body, ok := strings.CutPrefix(tok, TokenPrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil
}

func (s *Service) record(ctx context.Context, tx *sql.Tx, actor string, action, object string, details map[string]any) error {
	kind := audit.ActorPerson
	if governance.IsAgent(actor) {
		kind = audit.ActorAgent
	}
	_, err := s.o.Audit.AppendTx(ctx, tx, audit.Event{Actor: audit.Actor{Kind: kind, Name: actor}, Action: action, Object: object,
		Boundary: audit.BoundaryNone, Details: details, Time: s.now()})
	if err != nil {
		return fmt.Errorf("authn: audit %s: %w", action, err)
	}
	return nil
}

func (s *Service) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("authn: begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authn: commit: %w", err)
	}
	return nil
}

// holds reports whether name holds role now.
func (s *Service) holds(ctx context.Context, name string, role governance.Role) (bool, error) {
	roles, err := s.o.Gov.Roles(ctx, name)
	if err != nil {
		return false, err
	}
	return slices.Contains(roles, role), nil
}

// CreateToken issues a token for person to act under role, valid for ttl
// (0: 30 days; at most 366), and returns its plaintext — the only time it
// exists outside the caller — and its record. by issues it: an admin may
// issue a token to anyone for a role they hold, anyone else only to
// themselves. Audited as token.create (never the token).
func (s *Service) CreateToken(ctx context.Context, by, person string, role governance.Role, ttl time.Duration) (string, Token, error) {
	by, person = strings.TrimSpace(by), strings.TrimSpace(person)
	if by == "" {
		return "", Token{}, errors.New("say who issues the token (--as PERSON): an admin, or the person it is for")
	}
	if err := governance.CheckName(person); err != nil {
		return "", Token{}, err
	}
	if !role.Valid() {
		return "", Token{}, fmt.Errorf("unknown role %q: want one of admin, approver, operator, viewer, agent", role)
	}
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < time.Minute || ttl > MaxTokenTTL:
		return "", Token{}, fmt.Errorf("token lifetime %s: want between 1m and %s", ttl, MaxTokenTTL)
	}
	if by != person {
		if err := s.o.Gov.Authorize(ctx, by, governance.ActionRoleGrant); err != nil {
			return "", Token{}, fmt.Errorf("only an admin issues a token for someone else (%s for %s): %w", by, person, err)
		}
	}
	ok, err := s.holds(ctx, person, role)
	if err != nil {
		return "", Token{}, err
	}
	if !ok {
		return "", Token{}, &governance.RefusedError{Rule: governance.RuleRole, Msg: fmt.Sprintf(
			"%s does not hold role %s, so no token can act under it; an admin grants it with `spindle role grant %s %s --as ADMIN`", person, role, person, role)}
	}
	body, err := randomString()
	if err != nil {
		return "", Token{}, err
	}
	plain := TokenPrefix + body
	now := s.now()
	t := Token{Name: person, Role: role, CreatedBy: by, CreatedAt: fromNanos(now.UnixNano()), ExpiresAt: fromNanos(now.Add(ttl).UnixNano())}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens (token_hash, name, role, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, hashHex(plain), t.Name, string(t.Role), t.CreatedBy,
			t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano()).Scan(&t.ID); err != nil {
			return fmt.Errorf("authn: store the token: %w", err)
		}
		return s.record(ctx, tx, by, "token.create", fmt.Sprintf("token:%d", t.ID), map[string]any{
			"principal": t.Name, "role": string(t.Role), "expires_at": t.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}

const tokenCols = `id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at, revoked_by`

type scanner interface{ Scan(dest ...any) error }

func scanToken(r scanner) (Token, error) {
	var t Token
	var role string
	var created, expires int64
	var used, revoked sql.NullInt64
	var revokedBy sql.NullString
	if err := r.Scan(&t.ID, &t.Name, &role, &t.CreatedBy, &created, &expires, &used, &revoked, &revokedBy); err != nil {
		return Token{}, err
	}
	t.Role, t.CreatedAt, t.ExpiresAt, t.RevokedBy = governance.Role(role), fromNanos(created), fromNanos(expires), revokedBy.String
	if used.Valid {
		u := fromNanos(used.Int64)
		t.LastUsedAt = &u
	}
	if revoked.Valid {
		r := fromNanos(revoked.Int64)
		t.RevokedAt = &r
	}
	return t, nil
}

// Tokens lists every token, newest first (never a plaintext or a hash).
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("authn: list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes token id; its sessions end with it. An admin may
// revoke any token, a person their own. Audited as token.revoke.
func (s *Service) RevokeToken(ctx context.Context, by string, id int64) (Token, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return Token{}, errors.New("say who revokes the token (--as PERSON): an admin, or the person it is for")
	}
	var t Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no token %d: list them with `spindle token list`: %w", id, governance.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("authn: read token %d: %w", id, err)
		}
		if by != t.Name {
			if err := s.o.Gov.Authorize(ctx, by, governance.ActionRoleRevoke); err != nil {
				return fmt.Errorf("only an admin revokes someone else's token: %w", err)
			}
		}
		if t.RevokedAt != nil {
			return &governance.RefusedError{Rule: governance.RuleState, Msg: fmt.Sprintf("token %d was already revoked at %s by %s", id, t.RevokedAt.Format(time.RFC3339), t.RevokedBy)}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`, now.UnixNano(), by, id); err != nil {
			return fmt.Errorf("authn: revoke token %d: %w", id, err)
		}
		// Sessions would end anyway (Session checks the token); ending them
		// here makes it visible in the table too.
		if _, err := tx.ExecContext(ctx, `UPDATE api_sessions SET ended_at = ? WHERE token_id = ? AND ended_at IS NULL`, now.UnixNano(), id); err != nil {
			return fmt.Errorf("authn: end the sessions of token %d: %w", id, err)
		}
		rt := fromNanos(now.UnixNano())
		t.RevokedAt, t.RevokedBy = &rt, by
		return s.record(ctx, tx, by, "token.revoke", fmt.Sprintf("token:%d", id), map[string]any{"principal": t.Name, "role": string(t.Role)})
	})
	return t, err
}

// Authenticate checks a bearer token: well formed, known, not revoked, not
// expired, and its principal still holding its role.
func (s *Service) Authenticate(ctx context.Context, plaintext string) (Principal, error) {
	if !wellFormed(plaintext) {
		return Principal{}, fmt.Errorf("%w: not a Spindle API token (want %s…; create one with `spindle token create`)", ErrUnauthenticated, TokenPrefix)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE token_hash = ?`, hashHex(plaintext)))
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authn: read the token: %w", err)
	}
	return s.principal(ctx, t, true)
}

// principal checks that t may act now and returns who it acts as.
func (s *Service) principal(ctx context.Context, t Token, touch bool) (Principal, error) {
	now := s.now()
	switch {
	case t.RevokedAt != nil:
		return Principal{}, fmt.Errorf("%w: token %d was revoked", ErrUnauthenticated, t.ID)
	case !now.Before(t.ExpiresAt):
		return Principal{}, fmt.Errorf("%w: token %d expired at %s; create a new one", ErrUnauthenticated, t.ID, t.ExpiresAt.Format(time.RFC3339))
	}
	ok, err := s.holds(ctx, t.Name, t.Role)
	if err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{}, fmt.Errorf("%w: %s no longer holds role %s, which token %d acts under", ErrUnauthenticated, t.Name, t.Role, t.ID)
	}
	if touch && (t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedEvery) {
		// Best effort: a failed bookkeeping write must not refuse the call.
		s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now.UnixNano(), t.ID)
	}
	return Principal{Name: t.Name, Role: t.Role, TokenID: t.ID}, nil
}

// Login opens a browser session with a token and returns the session id
// (for the cookie; only its hash is stored) and who it acts as. The
// session ends at logout, after SessionTTL, when its token expires or is
// revoked, or when the principal loses the token's role. Audited as
// session.create.
func (s *Service) Login(ctx context.Context, token string) (string, Principal, error) {
	p, err := s.Authenticate(ctx, token)
	if err != nil {
		return "", Principal{}, err
	}
	var expires int64
	if err := s.db.QueryRowContext(ctx, `SELECT expires_at FROM api_tokens WHERE id = ?`, p.TokenID).Scan(&expires); err != nil {
		return "", Principal{}, fmt.Errorf("authn: read token %d: %w", p.TokenID, err)
	}
	id, err := randomString()
	if err != nil {
		return "", Principal{}, err
	}
	now := s.now()
	exp := min(now.Add(s.o.SessionTTL).UnixNano(), expires)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_sessions (id_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashHex(id), p.TokenID, now.UnixNano(), exp); err != nil {
			return fmt.Errorf("authn: store the session: %w", err)
		}
		return s.record(ctx, tx, p.Name, "session.create", fmt.Sprintf("token:%d", p.TokenID), map[string]any{"role": string(p.Role)})
	})
	if err != nil {
		return "", Principal{}, err
	}
	return id, p, nil
}

// Session checks a session id from a cookie and returns who it acts as.
func (s *Service) Session(ctx context.Context, sessionID string) (Principal, error) {
	if len(sessionID) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return Principal{}, fmt.Errorf("%w: no session; log in with an API token", ErrUnauthenticated)
	}
	var expires int64
	var ended sql.NullInt64
	var tokenID int64
	err := s.db.QueryRowContext(ctx, `SELECT token_id, expires_at, ended_at FROM api_sessions WHERE id_hash = ?`, hashHex(sessionID)).Scan(&tokenID, &expires, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, fmt.Errorf("%w: unknown session; log in again", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authn: read the session: %w", err)
	}
	if ended.Valid || !s.now().Before(fromNanos(expires)) {
		return Principal{}, fmt.Errorf("%w: the session ended; log in again", ErrUnauthenticated)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, tokenID))
	if err != nil {
		return Principal{}, fmt.Errorf("authn: read token %d: %w", tokenID, err)
	}
	return s.principal(ctx, t, true)
}

// Logout ends a session (an unknown or ended one is not an error: the
// outcome is the same). Audited as session.end when it was open.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var tokenID int64
		err := tx.QueryRowContext(ctx, `UPDATE api_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL RETURNING token_id`,
			s.nowNanos(), hashHex(sessionID)).Scan(&tokenID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("authn: end the session: %w", err)
		}
		var who string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM api_tokens WHERE id = ?`, tokenID).Scan(&who); err != nil {
			return fmt.Errorf("authn: read token %d: %w", tokenID, err)
		}
		return s.record(ctx, tx, who, "session.end", fmt.Sprintf("token:%d", tokenID), nil)
	})
}

// CSRFToken is the anti-forgery token of a session: an HMAC of the session
// id under the server's key. Deterministic, so the dashboard embeds it in
// every form and the server checks it without storing anything; an
// attacker's page cannot compute it without the session id, which its
// HttpOnly cookie keeps from scripts.
func (s *Service) CSRFToken(sessionID string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("spindle-csrf\x00"))
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is sessionID's CSRF token (constant time).
func (s *Service) CheckCSRF(sessionID, token string) bool {
	if sessionID == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(s.CSRFToken(sessionID)), []byte(token))
}

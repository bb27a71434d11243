// Package vault keeps the credentials integrations authenticate with
// (ARCHITECTURE boundary 4): entered by a person, encrypted at rest with
// age to an X25519 identity the database never holds, bound to one
// integration and one host, handed to the runtime only for that binding,
// and never listed, logged or audited in clear. It also records people's
// acceptance of vendor terms, which production sync requires.
//
// Every change is written with its audit entry in one transaction, so a
// change without its record cannot commit.
package vault

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
)

// DefaultRotateEvery is the rotation cadence when a credential sets none.
const DefaultRotateEvery = 90 * 24 * time.Hour

// MaxSecretBytes bounds a secret: API keys, tokens and client secrets are
// far shorter, and a larger input is a file piped by mistake.
const MaxSecretBytes = 16 << 10

// Audit actions.
const (
	ActionSet     = "credential.set"
	ActionRotate  = "credential.rotate"
	ActionRevoke  = "credential.revoke"
	ActionUse     = "credential.use"
	ActionRefuse  = "credential.refuse"
	ActionTerms   = "terms.accept"
	objCredential = "credential:"
	objIntegrate  = "integration:"
)

// Errors callers can test with errors.Is. Messages wrapping them say what
// to do; none contains a secret.
var (
	ErrNotFound      = errors.New("credential not found")
	ErrExists        = errors.New("credential already exists")
	ErrRevoked       = errors.New("credential revoked")
	ErrRefused       = errors.New("credential refused for this binding")
	ErrWrongIdentity = errors.New("vault identity cannot decrypt the credential")
)

// Same patterns as the spec's JSON Schema: a credential name is what
// connection.auth.credential holds, an integration name is metadata.name.
var (
	credentialName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$`)
	integrationName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// Options configure a Vault. The identity is taken from the first of
// Identity, IdentityValue and IdentityFile that is set, on first use.
type Options struct {
	// Identity is the age identity itself (tests, or a caller that loaded it).
	Identity *age.X25519Identity
	// IdentityValue is an AGE-SECRET-KEY-1… string (from SPINDLE_VAULT_IDENTITY).
	IdentityValue string
	// IdentityFile is read, or created with mode 0600 when absent and the
	// vault holds no secret yet. A file others can read is refused.
	IdentityFile string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Audit records every change and every use. Required for them: the
	// vault refuses to act unaudited.
	Audit *audit.Log
	// Authorize checks a person's role for an action ("credential.set",
	// "credential.rotate", "credential.revoke", "terms.accept"): the
	// governance layer's Service.Authorize. Nil skips the role check (unit
	// tests of the vault alone); every command wires it.
	Authorize func(ctx context.Context, person, action string) error
}

// Vault is the credential store. It is safe for concurrent use.
type Vault struct {
	db   *sql.DB
	opts Options
	now  func() time.Time

	idMu sync.Mutex
	id   *age.X25519Identity
}

// Open returns the vault kept in db, whose schema (migration 00003) the
// store has applied. The identity is not read until a secret is needed.
func Open(db *sql.DB, o Options) (*Vault, error) {
	if db == nil {
		return nil, errors.New("vault: no database handle; open the store first and pass its DB()")
	}
	v := &Vault{db: db, opts: o, now: o.Now}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Credential is what a person provisions: a name and its binding.
type Credential struct {
	// Name is the vault reference an integration spec's
	// connection.auth.credential uses.
	Name string
	// Integration is the metadata.name of the one integration that may use it.
	Integration string
	// Host is the base URL's host (host or host:port; a URL is accepted and
	// reduced to its host): the one place the secret may be sent.
	Host string
	// TokenHost is the oauth2 token URL's host when it differs from Host.
	TokenHost string
	// RotateEvery is the rotation cadence (0: DefaultRotateEvery).
	RotateEvery time.Duration
}

// Meta is everything about a credential except its secret.
type Meta struct {
	Name        string               `json:"name"`
	Integration string               `json:"integration"`
	Host        string               `json:"host"`
	TokenHost   string               `json:"token_host,omitempty"`
	Recipient   string               `json:"recipient"` // age public key the secret is encrypted to
	Version     int                  `json:"version"`
	CreatedAt   time.Time            `json:"created_at"`
	CreatedBy   string               `json:"created_by"`
	RotatedAt   *time.Time           `json:"rotated_at"`
	RotatedBy   string               `json:"rotated_by,omitempty"`
	RotateEvery integration.Duration `json:"rotate_every"`
	RotateBy    time.Time            `json:"rotate_by"`
	// Overdue: live and past RotateBy at the time of reading.
	Overdue    bool       `json:"overdue"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
}

// Revoked reports whether the credential was revoked.
func (m Meta) Revoked() bool { return m.RevokedAt != nil }

// row is a credential as stored; ciphertext is nil once revoked.
type row struct {
	Meta
	ciphertext []byte
}

const credColumns = `name, integration, host, token_host, recipient, ciphertext, version,
	created_at, created_by, rotated_at, rotated_by, rotate_every_ns, rotate_by, last_used_at, revoked_at, revoked_by`

type scanner interface{ Scan(...any) error }

func scanRow(s scanner) (*row, error) {
	var r row
	var created, every, rotateBy int64
	var rotated, used, revoked sql.NullInt64
	var rotatedBy, revokedBy sql.NullString
	if err := s.Scan(&r.Name, &r.Integration, &r.Host, &r.TokenHost, &r.Recipient, &r.ciphertext, &r.Version,
		&created, &r.CreatedBy, &rotated, &rotatedBy, &every, &rotateBy, &used, &revoked, &revokedBy); err != nil {
		return nil, err
	}
	r.CreatedAt = fromNanos(created)
	r.RotatedAt, r.RotatedBy = optTime(rotated), rotatedBy.String
	r.RotateEvery = integration.Duration(every)
	r.RotateBy = fromNanos(rotateBy)
	r.LastUsedAt = optTime(used)
	r.RevokedAt, r.RevokedBy = optTime(revoked), revokedBy.String
	return &r, nil
}

func (r *row) meta(now time.Time) Meta {
	m := r.Meta
	m.Overdue = m.RevokedAt == nil && now.After(m.RotateBy)
	return m
}

// getTx reads one credential; ErrNotFound (wrapped) when absent.
func getTx(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (*row, error) {
	r, err := scanRow(q.QueryRowContext(ctx, `SELECT `+credColumns+` FROM vault_credentials WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("credential %q is not in the vault (see `spindle credential list`): %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read credential %q: %w", name, err)
	}
	return r, nil
}

// Get returns a credential's metadata.
func (v *Vault) Get(ctx context.Context, name string) (Meta, error) {
	r, err := getTx(ctx, v.db, name)
	if err != nil {
		return Meta{}, err
	}
	return r.meta(v.now()), nil
}

// List returns every credential's metadata, revoked ones included, by name.
// It never reads a secret and needs no identity.
func (v *Vault) List(ctx context.Context) ([]Meta, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT `+credColumns+` FROM vault_credentials ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("vault: list credentials: %w", err)
	}
	defer rows.Close()
	now := v.now()
	out := []Meta{}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("vault: list credentials: %w", err)
		}
		clear(r.ciphertext)
		out = append(out, r.meta(now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: list credentials: %w", err)
	}
	return out, nil
}

// Set provisions a new credential, or re-provisions a revoked name (its
// version continues). A live credential is refused: rotate it instead, so
// a binding is never silently replaced. The secret is encrypted before any
// database call and not kept; the caller should clear its slice after.
func (v *Vault) Set(ctx context.Context, actor audit.Actor, c Credential, secret []byte) (Meta, error) {
	if err := v.checkActor(ctx, actor, "credential.set"); err != nil {
		return Meta{}, err
	}
	if !credentialName.MatchString(c.Name) {
		return Meta{}, fmt.Errorf("credential name %q: use letters, digits and _ . : / - (at most 128, starting with a letter or digit), the same name the spec's connection.auth.credential holds", c.Name)
	}
	if !integrationName.MatchString(c.Integration) {
		return Meta{}, fmt.Errorf("integration %q: want the spec's metadata.name (lower-case letters, digits and -)", c.Integration)
	}
	host, err := NormalizeHost(c.Host)
	if err != nil {
		return Meta{}, fmt.Errorf("host: %w", err)
	}
	tokenHost := ""
	if c.TokenHost != "" {
		if tokenHost, err = NormalizeHost(c.TokenHost); err != nil {
			return Meta{}, fmt.Errorf("token host: %w", err)
		}
		if tokenHost == host {
			tokenHost = "" // the same host: one binding
		}
	}
	every := c.RotateEvery
	if every == 0 {
		every = DefaultRotateEvery
	}
	if every < 0 {
		return Meta{}, fmt.Errorf("rotate every %v: want a positive duration such as 90d", every)
	}
	if err := checkSecret(secret, c.Name, c.Integration, host, tokenHost, actor.Name); err != nil {
		return Meta{}, err
	}
	id, err := v.identity(ctx, true)
	if err != nil {
		return Meta{}, err
	}
	ct, err := encrypt(id.Recipient(), secret)
	if err != nil {
		return Meta{}, err
	}
	now := v.now().UTC()
	var m Meta
	err = v.inTx(ctx, func(tx *sql.Tx) error {
		version := 1
		old, err := getTx(ctx, tx, c.Name)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		case old.RevokedAt == nil:
			return fmt.Errorf("credential %q already exists (version %d, bound to integration %s at %s): rotate it with `spindle credential rotate %s`, or revoke it first to bind the name anew: %w",
				c.Name, old.Version, old.Integration, old.Host, c.Name, ErrExists)
		default:
			version = old.Version + 1
		}
		rotateBy := now.Add(every)
		_, err = tx.ExecContext(ctx, `INSERT INTO vault_credentials (`+credColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, NULL, NULL, NULL)
			ON CONFLICT (name) DO UPDATE SET integration = excluded.integration, host = excluded.host,
				token_host = excluded.token_host, recipient = excluded.recipient, ciphertext = excluded.ciphertext,
				version = excluded.version, created_at = excluded.created_at, created_by = excluded.created_by,
				rotated_at = NULL, rotated_by = NULL, rotate_every_ns = excluded.rotate_every_ns,
				rotate_by = excluded.rotate_by, last_used_at = NULL, revoked_at = NULL, revoked_by = NULL`,
			c.Name, c.Integration, host, tokenHost, id.Recipient().String(), ct, version,
			now.UnixNano(), actor.Name, int64(every), rotateBy.UnixNano())
		if err != nil {
			return fmt.Errorf("vault: store credential %q: %w", c.Name, err)
		}
		m = Meta{Name: c.Name, Integration: c.Integration, Host: host, TokenHost: tokenHost,
			Recipient: id.Recipient().String(), Version: version, CreatedAt: now, CreatedBy: actor.Name,
			RotateEvery: integration.Duration(every), RotateBy: rotateBy}
		return v.record(ctx, tx, actor, ActionSet, objCredential+c.Name, now, map[string]any{
			"integration": c.Integration, "host": host, "token_host": tokenHost, "version": version,
			"rotate_every": integration.Duration(every).String(), "rotate_by": rotateBy.Format(time.RFC3339),
			"recipient": id.Recipient().String(),
		})
	})
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

// Rotate replaces a live credential's secret: the version increments, the
// rotation clock restarts and the old value stops resolving at once (its
// ciphertext is overwritten). The binding does not change: revoke and set
// to move a credential. A new value equal to the current one is refused,
// since that would restart the clock without rotating anything.
func (v *Vault) Rotate(ctx context.Context, actor audit.Actor, name string, secret []byte) (Meta, error) {
	if err := v.checkActor(ctx, actor, "credential.rotate"); err != nil {
		return Meta{}, err
	}
	id, err := v.identity(ctx, true)
	if err != nil {
		return Meta{}, err
	}
	now := v.now().UTC()
	var m Meta
	err = v.inTx(ctx, func(tx *sql.Tx) error {
		r, err := getTx(ctx, tx, name)
		if err != nil {
			return err
		}
		if r.RevokedAt != nil {
			return fmt.Errorf("credential %q was revoked %s by %s; provision it again with `spindle credential set %s`: %w",
				name, r.RevokedAt.Format(time.RFC3339), r.RevokedBy, name, ErrRevoked)
		}
		if err := checkSecret(secret, r.Name, r.Integration, r.Host, r.TokenHost, actor.Name); err != nil {
			return err
		}
		// Compare with the current value when this identity can read it; when
		// it cannot (the key was replaced), rotating re-encrypts to the new
		// key, which is the way to recover.
		if old, err := decrypt(id, r); err == nil {
			same := subtle.ConstantTimeCompare(old, secret) == 1
			clear(old)
			if same {
				return fmt.Errorf("credential %q: the new secret is the one already stored; issue a new one at the vendor and rotate to it", name)
			}
		}
		ct, err := encrypt(id.Recipient(), secret)
		if err != nil {
			return err
		}
		rotateBy := now.Add(r.RotateEvery.Std())
		r.Version++
		if _, err := tx.ExecContext(ctx, `UPDATE vault_credentials SET ciphertext = ?, recipient = ?, version = ?,
			rotated_at = ?, rotated_by = ?, rotate_by = ? WHERE name = ?`,
			ct, id.Recipient().String(), r.Version, now.UnixNano(), actor.Name, rotateBy.UnixNano(), name); err != nil {
			return fmt.Errorf("vault: rotate credential %q: %w", name, err)
		}
		r.Recipient, r.RotatedAt, r.RotatedBy, r.RotateBy = id.Recipient().String(), &now, actor.Name, rotateBy
		m = r.meta(now)
		return v.record(ctx, tx, actor, ActionRotate, objCredential+name, now, map[string]any{
			"integration": r.Integration, "host": r.Host, "version": r.Version,
			"rotate_by": rotateBy.Format(time.RFC3339), "recipient": r.Recipient,
		})
	})
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

// Revoke stops a credential for good: its ciphertext is deleted (not kept
// for later), and every resolve fails. It does not revoke the key at the
// vendor; the message to the person says so.
func (v *Vault) Revoke(ctx context.Context, actor audit.Actor, name string) (Meta, error) {
	var m Meta
	err := v.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = v.RevokeTx(ctx, tx, actor, name)
		return err
	})
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

// RevokeTx is Revoke inside the caller's transaction (a write transaction
// on the vault's database), for changes that must commit together with
// the revocation, such as offboarding an integration.
func (v *Vault) RevokeTx(ctx context.Context, tx *sql.Tx, actor audit.Actor, name string) (Meta, error) {
	if err := v.checkActor(ctx, actor, "credential.revoke"); err != nil {
		return Meta{}, err
	}
	r, err := getTx(ctx, tx, name)
	if err != nil {
		return Meta{}, err
	}
	clear(r.ciphertext)
	if r.RevokedAt != nil {
		return Meta{}, fmt.Errorf("credential %q was already revoked %s by %s: %w", name, r.RevokedAt.Format(time.RFC3339), r.RevokedBy, ErrRevoked)
	}
	now := v.now().UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE vault_credentials SET ciphertext = NULL, revoked_at = ?, revoked_by = ? WHERE name = ?`,
		now.UnixNano(), actor.Name, name); err != nil {
		return Meta{}, fmt.Errorf("vault: revoke credential %q: %w", name, err)
	}
	r.RevokedAt, r.RevokedBy = &now, actor.Name
	if err := v.record(ctx, tx, actor, ActionRevoke, objCredential+name, now, map[string]any{
		"integration": r.Integration, "host": r.Host, "version": r.Version,
	}); err != nil {
		return Meta{}, err
	}
	return r.meta(now), nil
}

// RevokeIntegrationTx revokes, inside tx, every live credential bound to
// integration (offboarding), and returns them; none is not an error.
func (v *Vault) RevokeIntegrationTx(ctx context.Context, tx *sql.Tx, actor audit.Actor, integration string) ([]Meta, error) {
	if err := v.checkActor(ctx, actor, "credential.revoke"); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM vault_credentials WHERE integration = ? AND revoked_at IS NULL ORDER BY name`, integration)
	if err != nil {
		return nil, fmt.Errorf("vault: credentials of %s: %w", integration, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("vault: credentials of %s: %w", integration, err)
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("vault: credentials of %s: %w", integration, err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: credentials of %s: %w", integration, err)
	}
	out := []Meta{}
	for _, n := range names {
		m, err := v.RevokeTx(ctx, tx, actor, n)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// checkActor: credentials and terms are a person's act (boundary 4; the
// agent and the scheduler never provision, rotate, revoke or accept).
func (v *Vault) checkActor(ctx context.Context, actor audit.Actor, action string) error {
	if v.opts.Audit == nil {
		return errors.New("vault: no audit log configured; every vault action is audited, so none is taken without one")
	}
	if actor.Kind != audit.ActorPerson {
		return fmt.Errorf("vault: only a person may provision credentials or accept terms, not the %s %q", actor.Kind, actor.Name)
	}
	if strings.TrimSpace(actor.Name) == "" {
		return errors.New("vault: say who you are: pass --as NAME")
	}
	if v.opts.Authorize != nil {
		return v.opts.Authorize(ctx, actor.Name, action)
	}
	return nil
}

// checkSecret refuses values that cannot be used or redacted safely. It
// also refuses a secret that appears in the metadata (a name, a host, the
// actor): those are stored and shown in clear, so the secret would be too.
func checkSecret(secret []byte, metadata ...string) error {
	switch {
	case len(secret) == 0:
		return errors.New("the secret is empty: pipe it on stdin, or type it at the prompt")
	case len(secret) > MaxSecretBytes:
		return fmt.Errorf("the secret is %d bytes, more than %d: pipe only the credential, not a file", len(secret), MaxSecretBytes)
	case !utf8.Valid(secret):
		return errors.New("the secret is not valid UTF-8 text: credentials travel in HTTP headers and forms; pipe the text form (for binary keys, their base64)")
	case len(bytes.TrimSpace(secret)) == 0:
		return errors.New("the secret is only whitespace: pipe the credential itself")
	case len(secret) < runtime.MinRedactLen:
		return fmt.Errorf("the secret is shorter than %d characters, too short to redact reliably from logs; no vendor issues one that short", runtime.MinRedactLen)
	}
	first, _ := utf8.DecodeRune(secret)
	last, _ := utf8.DecodeLastRune(secret)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return errors.New("the secret starts or ends with whitespace (an extra newline?): pipe it without, e.g. printf '%s' \"$TOKEN\"")
	}
	for _, s := range metadata {
		if s != "" && bytes.Contains([]byte(s), secret) {
			return errors.New("the secret appears in the credential's name, integration, host or your --as name, which are stored and shown in clear: choose other names, and since the value may now be in your shell history, rotate it at the vendor")
		}
	}
	return nil
}

// encrypt seals secret to the recipient. age's format authenticates the
// ciphertext, so tampering shows up as a decryption error.
func encrypt(to *age.X25519Recipient, secret []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to)
	if err != nil {
		return nil, fmt.Errorf("vault: encrypt: %w", err)
	}
	if _, err := w.Write(secret); err != nil {
		return nil, fmt.Errorf("vault: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// decrypt opens a stored credential. The caller clears the result.
func decrypt(id *age.X25519Identity, r *row) ([]byte, error) {
	if r.ciphertext == nil {
		return nil, fmt.Errorf("credential %q was revoked: %w", r.Name, ErrRevoked)
	}
	rd, err := age.Decrypt(bytes.NewReader(r.ciphertext), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, fmt.Errorf("credential %q is encrypted to vault key %s, but the identity in use is %s: use the identity file that set it (--vault-identity FILE or %s), or set the credential again: %w",
				r.Name, r.Recipient, id.Recipient(), EnvIdentity, ErrWrongIdentity)
		}
		return nil, fmt.Errorf("credential %q cannot be decrypted (the stored ciphertext is damaged or was altered: %v); revoke it and set it again", r.Name, err)
	}
	// Read into one buffer of the final size, so no partial copies of the
	// secret are left behind by a growing slice.
	out := make([]byte, MaxSecretBytes+1)
	n, err := io.ReadFull(rd, out)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(out)
		return nil, fmt.Errorf("credential %q cannot be decrypted (the stored ciphertext is damaged or was altered: %v); revoke it and set it again", r.Name, err)
	}
	if n > MaxSecretBytes {
		clear(out)
		return nil, fmt.Errorf("credential %q decrypts to more than %d bytes; revoke it and set it again", r.Name, MaxSecretBytes)
	}
	return out[:n:n], nil
}

// record appends the audit entry for a change inside its transaction.
// Details never hold a secret: only names, hosts, versions and times.
func (v *Vault) record(ctx context.Context, tx *sql.Tx, actor audit.Actor, action, object string, at time.Time, details map[string]any) error {
	if v.opts.Audit == nil {
		return errors.New("vault: no audit log configured; every vault action is audited, so none is taken without one")
	}
	_, err := v.opts.Audit.AppendTx(ctx, tx, audit.Event{
		Actor: actor, Action: action, Object: object, Boundary: audit.BoundaryProduction, Details: details, Time: at,
	})
	if err != nil {
		return fmt.Errorf("vault: audit %s %s: %w", action, object, err)
	}
	return nil
}

// inTx runs fn in one transaction, committing only if fn succeeds.
func (v *Vault) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("vault: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vault: commit: %w", err)
	}
	return nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func optTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

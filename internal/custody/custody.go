// Package custody keeps approvers' ed25519 signing keys on the server, so a
// person can approve from a browser: an approval is a signature
// (governance.DecideInput.Key), and a browser cannot hold the key file the
// CLI reads.
//
// The trade-off: with a custodied key the signature proves that the server
// signed on behalf of whoever held a session of that person, not that the
// person's own device did. The session (an API token the person logged in
// with, their role re-checked at every request) is what binds the person;
// the database holds the key sealed with the vault's age identity, so a
// copy of the database alone cannot sign. A person who wants the stronger
// proof keeps a key file (`spindle keys create NAME`) and approves with the
// CLI; both keys verify the same way in `spindle release verify`.
package custody

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/vault"
)

// ErrNoKey is wrapped when the server holds no key for a person's active
// signing key.
var ErrNoKey = errors.New("no server-custodied signing key")

// Keys is the custody of signing keys over one database.
type Keys struct {
	db    *sql.DB
	gov   *governance.Service
	vault *vault.Vault
	audit *audit.Log
	now   func() time.Time
}

// New returns the custody over db (the store's DB(), migration 00012).
func New(db *sql.DB, gov *governance.Service, v *vault.Vault, log *audit.Log) (*Keys, error) {
	if db == nil || gov == nil || v == nil || log == nil {
		return nil, errors.New("custody: needs the database, governance, the vault and the audit log")
	}
	return &Keys{db: db, gov: gov, vault: v, audit: log, now: time.Now}, nil
}

// Create makes name's signing key and keeps the private key on the server.
// The key pair is made by governance's CreateKey (which checks name's role,
// stores the public key and audits key.create) in a private temporary
// directory; the file's contents are then sealed with the vault into
// custodied_keys and the file is removed. With replace, name's current key
// is retired as by `keys create --replace`.
func (k *Keys) Create(ctx context.Context, name string, replace bool) (governance.Key, error) {
	dir, err := os.MkdirTemp("", "spindle-custody-")
	if err != nil {
		return governance.Key{}, fmt.Errorf("custody: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	key, path, err := k.gov.CreateKey(ctx, name, dir, replace)
	if err != nil {
		return governance.Key{}, err
	}
	pemBytes, err := os.ReadFile(path)
	os.Remove(path) // at once: the sealed copy below is the only one kept
	if err != nil {
		return governance.Key{}, k.lost(name, fmt.Errorf("read the new key: %w", err))
	}
	defer clear(pemBytes)
	ct, recipient, err := k.vault.Seal(ctx, pemBytes)
	if err != nil {
		return governance.Key{}, k.lost(name, err)
	}
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return governance.Key{}, k.lost(name, err)
	}
	defer tx.Rollback()
	now := k.now().UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO custodied_keys (fingerprint, principal, ciphertext, recipient, created_at) VALUES (?, ?, ?, ?, ?)`,
		key.Fingerprint, name, ct, recipient, now.UnixNano()); err != nil {
		return governance.Key{}, k.lost(name, err)
	}
	if _, err := k.audit.AppendTx(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: name}, Action: "key.custody",
		Object: "key:" + name, Boundary: audit.BoundaryNone, Time: now,
		Details: map[string]any{"fingerprint": key.Fingerprint, "sealed_to": recipient}}); err != nil {
		return governance.Key{}, k.lost(name, err)
	}
	if err := tx.Commit(); err != nil {
		return governance.Key{}, k.lost(name, err)
	}
	return key, nil
}

// lost explains a key registered in governance whose private half could
// not be kept: it can sign nothing, so it must be replaced.
func (k *Keys) lost(name string, err error) error {
	return fmt.Errorf("custody: %s's new public key is registered but its private key could not be kept on the server (%v); "+
		"nothing can sign with it: run `spindle keys create %s --custody server --replace`", name, err, name)
}

// SigningKey is person's active signing key, when the server holds it. It
// refuses when person's active key is one they hold themselves (a key
// file): approve with the CLI then, or replace it with a custodied one.
func (k *Keys) SigningKey(ctx context.Context, person string) (ed25519.PrivateKey, error) {
	active, err := k.gov.ActiveKey(ctx, person)
	if errors.Is(err, governance.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no signing key; create one the server keeps with `spindle keys create %s --custody server`", ErrNoKey, person, person)
	}
	if err != nil {
		return nil, err
	}
	var ct []byte
	err = k.db.QueryRowContext(ctx, `SELECT ciphertext FROM custodied_keys WHERE fingerprint = ? AND principal = ?`, active.Fingerprint, person).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s's active key %s is held by them (a key file), not by the server; approve with `spindle approve ID --as %s`, "+
			"or replace it with one the server keeps: `spindle keys create %s --custody server --replace`", ErrNoKey, person, active.Fingerprint, person, person)
	}
	if err != nil {
		return nil, fmt.Errorf("custody: read %s's key: %w", person, err)
	}
	pemBytes, err := k.vault.Unseal(ctx, ct)
	if err != nil {
		return nil, fmt.Errorf("custody: %s's key: %w", person, err)
	}
	defer clear(pemBytes)
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("custody: %s's sealed key is not a PEM private key; replace it with `spindle keys create %s --custody server --replace`", person, person)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	clear(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("custody: %s's key: %w", person, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	// The row is keyed by fingerprint, but only the stored public key says
	// which private key may sign for it.
	if !ok || !priv.Public().(ed25519.PublicKey).Equal(active.PublicKey) {
		return nil, fmt.Errorf("custody: %s's sealed key does not match their active public key %s; replace it with `spindle keys create %s --custody server --replace`", person, active.Fingerprint, person)
	}
	return priv, nil
}

// Held reports whether the server holds person's active signing key.
func (k *Keys) Held(ctx context.Context, person string) (bool, error) {
	active, err := k.gov.ActiveKey(ctx, person)
	if errors.Is(err, governance.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var n int
	if err := k.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM custodied_keys WHERE fingerprint = ?`, active.Fingerprint).Scan(&n); err != nil {
		return false, fmt.Errorf("custody: %w", err)
	}
	return n > 0, nil
}

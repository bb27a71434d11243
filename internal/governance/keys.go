package governance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// KeyFileExt ends every private key file: DIR/NAME.ed25519.
const KeyFileExt = ".ed25519"

// Key is a person's public signing key as the store holds it.
type Key struct {
	Principal   string            `json:"principal"`
	Fingerprint string            `json:"fingerprint"`
	PublicKey   ed25519.PublicKey `json:"public_key"` // base64 in JSON
	CreatedAt   time.Time         `json:"created_at"`
	RetiredAt   *time.Time        `json:"retired_at,omitempty"`
}

// Fingerprint names a public key the way ssh-keygen -l does:
// SHA256:<unpadded base64 of its sha256>.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// DefaultKeyDir is where private keys live unless told otherwise:
// $SPINDLE_KEY_DIR, else ~/.config/spindle/keys.
func DefaultKeyDir() (string, error) {
	if d := os.Getenv("SPINDLE_KEY_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory to keep keys in (%v); set SPINDLE_KEY_DIR or pass --key-dir", err)
	}
	return filepath.Join(home, ".config", "spindle", "keys"), nil
}

// KeyPath is the private key file of name in dir.
func KeyPath(dir, name string) string { return filepath.Join(dir, name+KeyFileExt) }

// CreateKey makes an ed25519 key pair for the person name: the private key
// goes to DIR/NAME.ed25519 (PEM, PKCS #8, mode 0600; an existing file is
// never overwritten) and the public key into the store as name's active
// key. With replace, name's current key is retired (kept, so approvals it
// signed still verify); otherwise a second key is refused.
func (s *Service) CreateKey(ctx context.Context, name, dir string, replace bool) (Key, string, error) {
	if err := CheckName(name); err != nil {
		return Key{}, "", err
	}
	if IsAgent(name) {
		return Key{}, "", refuse(RuleRole, "%s is an agent; agents cannot hold signing keys because they never decide", name)
	}
	if dir == "" {
		return Key{}, "", errors.New("no key directory given; pass --key-dir or set SPINDLE_KEY_DIR")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, "", fmt.Errorf("generate key: %w", err)
	}
	now := s.now().UTC()
	key := Key{Principal: name, Fingerprint: Fingerprint(pub), PublicKey: pub, CreatedAt: time.Unix(0, now.UnixNano()).UTC()}
	path := KeyPath(dir, name)
	written := false
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := authorize(ctx, tx, name, ActionKeyCreate); err != nil {
			return err
		}
		old, err := activeKey(ctx, tx, name)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		case !replace:
			return refuse(RuleState, "%s already has an active key (%s, created %s); pass --replace to retire it and make a new one",
				name, old.Fingerprint, old.CreatedAt.Format(time.RFC3339))
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE fingerprint = ?`, now.UnixNano(), old.Fingerprint); err != nil {
				return fmt.Errorf("governance: retire %s: %w", old.Fingerprint, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (fingerprint, principal, public_key, created_at) VALUES (?, ?, ?, ?)`,
			key.Fingerprint, name, hex.EncodeToString(pub), now.UnixNano()); err != nil {
			return fmt.Errorf("governance: store the public key of %s: %w", name, err)
		}
		details := map[string]any{"fingerprint": key.Fingerprint}
		if old != nil {
			details["retired"] = old.Fingerprint
		}
		if err := s.record(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: name}, Action: string(ActionKeyCreate),
			Object: "key:" + name, Details: details}); err != nil {
			return err
		}
		// The file is written last, inside the transaction, so a refusal
		// above leaves no orphan key file; a failed commit removes it below.
		if err := writePrivateKey(dir, path, priv); err != nil {
			return err
		}
		written = true
		return nil
	})
	if err != nil {
		if written {
			os.Remove(path)
		}
		return Key{}, "", err
	}
	return key, path, nil
}

// writePrivateKey writes priv to path as PEM PKCS #8, 0600, refusing to
// replace an existing file: that file may be the only copy of a key.
func writePrivateKey(dir, path string, priv ed25519.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the key directory %s: %w", dir, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return refuse(RuleState, "%s already exists and is never overwritten (it may be the only copy of a key); move it away or pass another --key-dir", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadPrivateKey reads a private key file written by CreateKey. A file
// that others can read is refused, as ssh does: the key may be known.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w (create one with `spindle keys create NAME`, or pass --key FILE)", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s has mode %04o, readable by others; run `chmod 600 %s`", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s is not a PEM private key (want a file written by `spindle keys create`)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an ed25519 key", path, k)
	}
	return priv, nil
}

// Keys lists every stored public key, active and retired, by principal.
func (s *Service) Keys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT principal, fingerprint, public_key, created_at, retired_at FROM signing_keys ORDER BY principal, created_at`)
	if err != nil {
		return nil, fmt.Errorf("governance: list keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// ActiveKey is name's current public key.
func (s *Service) ActiveKey(ctx context.Context, name string) (*Key, error) {
	return activeKey(ctx, s.db, name)
}

func activeKey(ctx context.Context, q querier, name string) (*Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT principal, fingerprint, public_key, created_at, retired_at FROM signing_keys WHERE principal = ? AND retired_at IS NULL`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s has no signing key: %w", name, ErrNotFound)
	}
	return k, err
}

func keyByFingerprint(ctx context.Context, q querier, fp string) (*Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT principal, fingerprint, public_key, created_at, retired_at FROM signing_keys WHERE fingerprint = ?`, fp))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key %s: %w", fp, ErrNotFound)
	}
	return k, err
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(r scanner) (*Key, error) {
	var k Key
	var pubHex string
	var created int64
	var retired sql.NullInt64
	if err := r.Scan(&k.Principal, &k.Fingerprint, &pubHex, &created, &retired); err != nil {
		return nil, err
	}
	pub, err := hex.DecodeString(pubHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		// Kept as read, so Verify can report a damaged key rather than fail.
		pub = nil
	}
	k.PublicKey = pub
	k.CreatedAt = fromNanos(created)
	if retired.Valid {
		t := fromNanos(retired.Int64)
		k.RetiredAt = &t
	}
	return &k, nil
}

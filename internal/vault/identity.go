package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"filippo.io/age"
)

// Environment variables the CLI reads for the identity. The vault itself
// never reads the environment: callers pass what they found in Options, so
// tests and servers decide where the key comes from.
const (
	// EnvIdentity holds the identity itself (AGE-SECRET-KEY-1…).
	EnvIdentity = "SPINDLE_VAULT_IDENTITY"
	// EnvIdentityFile names the identity file.
	EnvIdentityFile = "SPINDLE_VAULT_IDENTITY_FILE"
	// DefaultIdentityFileName is the identity file's name beside the database.
	DefaultIdentityFileName = "vault.key"
)

// DefaultIdentityFile is where the identity lives when nothing says
// otherwise: vault.key in the database file's directory, so a database and
// its key are found together (and backed up together, or deliberately not).
func DefaultIdentityFile(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), DefaultIdentityFileName)
}

// ParseIdentity reads an age X25519 identity ("AGE-SECRET-KEY-1…"). The
// error never repeats the input: it is key material.
func ParseIdentity(s string) (*age.X25519Identity, error) {
	id, err := age.ParseX25519Identity(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not an age X25519 identity: want the AGE-SECRET-KEY-1… line that age-keygen prints")
	}
	return id, nil
}

// loadIdentityFile reads the identity file at path. It refuses a file that
// others can read or write: that file decrypts every credential.
func loadIdentityFile(path string) (*age.X25519Identity, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault identity %s is not a regular file; point --vault-identity at the key file", path)
	}
	if err := checkPrivate(path, fi); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault identity %s: %w", path, err)
	}
	defer clear(b)
	var id *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if id != nil {
			return nil, fmt.Errorf("vault identity %s holds more than one key (line %d); keep exactly one AGE-SECRET-KEY-1… line", path, n)
		}
		if id, err = ParseIdentity(line); err != nil {
			return nil, fmt.Errorf("vault identity %s, line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vault identity %s: %w", path, err)
	}
	if id == nil {
		return nil, fmt.Errorf("vault identity %s holds no key; restore the file, or delete it to have a new one made (only when no credential is stored)", path)
	}
	return id, nil
}

// checkPrivate refuses group or other permissions. Windows has no such
// bits (Go reports 0666 for every writable file), so the check would
// refuse every file there; ACLs are the owner's business on that system.
func checkPrivate(path string, fi fs.FileInfo) error {
	if goruntime.GOOS == "windows" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("vault identity %s has mode %04o, readable or writable by others; it decrypts every credential, so it must be private to its owner: run `chmod 600 %s`", path, perm, path)
	}
	return nil
}

// createIdentityFile makes a new identity and writes it to path with mode
// 0600. The key is written to a temporary file and hard-linked into place,
// so the file appears whole or not at all, and a concurrent creator's key is
// never overwritten (the link fails and that key is read instead).
func createIdentityFile(path string, now time.Time) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("vault: generate identity: %w", err)
	}
	content := []byte(fmt.Sprintf("# Spindle vault identity: it decrypts every credential in the vault.\n"+
		"# Keep it private (mode 0600) and back it up apart from the database.\n"+
		"# created: %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), id.Recipient(), id))
	defer clear(content)

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".vault-key-*")
	if err != nil {
		return nil, fmt.Errorf("vault: create identity file in %s (does the directory exist and is it writable?): %w", dir, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// CreateTemp makes 0600 already; say so explicitly in case that changes.
	if err := tmp.Chmod(0o600); err != nil && goruntime.GOOS != "windows" {
		tmp.Close()
		return nil, fmt.Errorf("vault: identity file: %w", err)
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("vault: write identity file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("vault: write identity file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("vault: write identity file: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadIdentityFile(path) // another process made it first: use theirs
		}
		// No hard links on this file system: fall back to an exclusive create.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadIdentityFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("vault: create identity file %s: %w", path, err)
		}
		_, werr := f.Write(content)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("vault: write identity file %s: %w", path, werr)
		}
	}
	return id, nil
}

// identity returns the vault's identity, loading it on first use, so
// commands that need no key (list, terms) work without one. Only the
// commands that store a secret create a missing file (create): reading one
// with a fresh key could decrypt nothing.
func (v *Vault) identity(ctx context.Context, create bool) (*age.X25519Identity, error) {
	v.idMu.Lock()
	defer v.idMu.Unlock()
	if v.id != nil {
		return v.id, nil
	}
	switch {
	case v.opts.Identity != nil:
		v.id = v.opts.Identity
	case strings.TrimSpace(v.opts.IdentityValue) != "":
		id, err := ParseIdentity(v.opts.IdentityValue)
		if err != nil {
			return nil, fmt.Errorf("vault: %s: %w", EnvIdentity, err)
		}
		v.id = id
	case v.opts.IdentityFile != "":
		id, err := loadIdentityFile(v.opts.IdentityFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			id, err = v.createIdentity(ctx)
		case errors.Is(err, fs.ErrNotExist):
			err = fmt.Errorf("vault: identity file %s does not exist; pass the one that set the credentials with --vault-identity FILE, or set %s", v.opts.IdentityFile, EnvIdentity)
		}
		if err != nil {
			return nil, err
		}
		v.id = id
	default:
		return nil, fmt.Errorf("vault: no identity: pass --vault-identity FILE, or set %s or %s", EnvIdentityFile, EnvIdentity)
	}
	return v.id, nil
}

// createIdentity makes the identity file, unless the vault already holds
// secrets: those were encrypted to a key that is now missing, and a fresh
// key would only hide that until every credential failed to decrypt.
func (v *Vault) createIdentity(ctx context.Context) (*age.X25519Identity, error) {
	var n int
	var recipient string
	err := v.db.QueryRowContext(ctx,
		`SELECT count(*), coalesce(min(recipient), '') FROM vault_credentials WHERE ciphertext IS NOT NULL`).Scan(&n, &recipient)
	if err != nil {
		return nil, fmt.Errorf("vault: read credentials: %w", err)
	}
	if n > 0 {
		return nil, fmt.Errorf("vault: identity file %s does not exist, but the vault holds %d credential(s) encrypted to %s: restore that key file (or pass it with --vault-identity, or set %s); a new key could not decrypt them", v.opts.IdentityFile, n, recipient, EnvIdentity)
	}
	return createIdentityFile(v.opts.IdentityFile, v.now())
}

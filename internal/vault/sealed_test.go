package vault_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/vault"
)

func TestSealUnseal(t *testing.T) {
	e := newEnv(t, vault.Options{})
	plain := []byte("https://hooks.example.com/services/" + secret)
	ct, recipient, err := e.v.Seal(t.Context(), plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte(secret)) || !strings.HasPrefix(recipient, "age1") {
		t.Fatalf("ciphertext holds the plaintext, or recipient %q is not an age key", recipient)
	}
	got, err := e.v.Unseal(t.Context(), ct)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("unseal = %q, %v", got, err)
	}

	// Another identity cannot open it, and says what to do.
	other := newIdentity(t)
	_, err = e.reopen(t, vault.Options{Identity: other}).Unseal(t.Context(), ct)
	if !errors.Is(err, vault.ErrWrongIdentity) || !strings.Contains(err.Error(), other.Recipient().String()) || !strings.Contains(err.Error(), "--vault-identity") {
		t.Fatalf("unseal with another identity: %v", err)
	}
	noSecret(t, "error", err.Error(), other.String())

	// Tampering shows.
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 0xff
	if _, err := e.v.Unseal(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "damaged or was altered") {
		t.Fatalf("unseal of a tampered ciphertext: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"empty", nil}, {"too large", make([]byte, vault.MaxSecretBytes+1)}} {
		if _, _, err := e.v.Seal(t.Context(), tc.in); err == nil {
			t.Errorf("seal %s: no error", tc.name)
		}
	}
}

// Seal creates the identity file the way Set does; Unseal never creates one
// (a fresh key could open nothing).
func TestSealIdentityFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "vault.key")
	e := newEnv(t, vault.Options{IdentityFile: key})
	if _, err := e.v.Unseal(t.Context(), []byte("x")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unseal without a key file: %v", err)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unseal created the key file: %v", err)
	}
	ct, _, err := e.v.Seal(t.Context(), []byte("https://hooks.example.com/x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("seal did not create the key file: %v", err)
	}
	if got, err := e.reopen(t, vault.Options{IdentityFile: key}).Unseal(t.Context(), ct); err != nil || string(got) != "https://hooks.example.com/x" {
		t.Fatalf("unseal with the key file: %q, %v", got, err)
	}
}

package custody_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"

	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production/prodtest"
)

// TestCustody: a custodied key signs as its person's active key, is
// sealed at rest, and is refused once the person moves to a key file.
func TestCustody(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := prodtest.New(t, b) // alice and bob hold key files
			k, err := custody.New(f.Env.DB, f.Env.Gov, f.Env.Vault, f.Env.Audit)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name    string
				person  string
				prepare func(t *testing.T)
				held    bool
			}{
				{"key file only", "alice", func(*testing.T) {}, false},
				{"no key at all", "olivia", func(*testing.T) {}, false},
				{"moved to the server", "bob", func(t *testing.T) {
					if _, err := k.Create(f.Ctx, "bob", true); err != nil {
						t.Fatal(err)
					}
				}, true},
				{"moved back to a file", "bob", func(t *testing.T) {
					if _, _, err := f.Env.Gov.CreateKey(f.Ctx, "bob", filepath.Join(t.TempDir(), "keys"), true); err != nil {
						t.Fatal(err)
					}
				}, false},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.prepare(t)
					held, err := k.Held(f.Ctx, c.person)
					if err != nil || held != c.held {
						t.Fatalf("held %v %v, want %v", held, err, c.held)
					}
					priv, err := k.SigningKey(f.Ctx, c.person)
					if !c.held {
						if !errors.Is(err, custody.ErrNoKey) {
							t.Fatalf("signing key: %v, want ErrNoKey", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					active, err := f.Env.Gov.ActiveKey(f.Ctx, c.person)
					if err != nil {
						t.Fatal(err)
					}
					if !priv.Public().(ed25519.PublicKey).Equal(active.PublicKey) {
						t.Fatal("the custodied key is not the active key")
					}
					var ct []byte
					if err := f.Env.DB.QueryRow(`SELECT ciphertext FROM custodied_keys WHERE fingerprint = ?`, active.Fingerprint).Scan(&ct); err != nil {
						t.Fatal(err)
					}
					if bytes.Contains(ct, priv.Seed()) || bytes.Contains(ct, []byte("PRIVATE KEY")) {
						t.Fatal("the private key is stored in clear")
					}
				})
			}
			// Agents never hold keys, custodied or not.
			if _, err := k.Create(f.Ctx, governance.AgentPrincipal("heuristic"), false); !governance.IsRefused(err, governance.RuleRole) {
				t.Fatalf("agent key: %v", err)
			}
			if es := f.Audit("key.custody"); len(es) != 1 {
				t.Fatalf("key.custody audited %d times", len(es))
			}
		})
	}
}

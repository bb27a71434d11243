package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Seal and Unseal keep small secrets of the control plane that are not an
// integration's credential — a webhook URL that carries a token — encrypted
// at rest with the vault's identity. The caller stores the ciphertext; the
// vault keeps no row, binds nothing and audits nothing (the caller's own
// change is audited). The recipient is returned so that a caller can say
// which key a value was sealed to when it no longer opens.

// Seal encrypts plaintext (at most MaxSecretBytes) to the vault's identity,
// creating the identity file when the vault holds no credential yet, as
// Set does. It returns the ciphertext and the recipient (age public key).
func (v *Vault) Seal(ctx context.Context, plaintext []byte) (ciphertext []byte, recipient string, err error) {
	switch {
	case len(plaintext) == 0:
		return nil, "", errors.New("vault: seal: nothing to seal")
	case len(plaintext) > MaxSecretBytes:
		return nil, "", fmt.Errorf("vault: seal: %d bytes, more than %d", len(plaintext), MaxSecretBytes)
	}
	id, err := v.identity(ctx, true)
	if err != nil {
		return nil, "", err
	}
	ct, err := encrypt(id.Recipient(), plaintext)
	if err != nil {
		return nil, "", err
	}
	return ct, id.Recipient().String(), nil
}

// Unseal decrypts what Seal returned. A value sealed to another key fails
// with ErrWrongIdentity and names the key in use; the caller clears the
// result when done.
func (v *Vault) Unseal(ctx context.Context, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, errors.New("vault: unseal: no ciphertext")
	}
	id, err := v.identity(ctx, false)
	if err != nil {
		return nil, err
	}
	rd, err := age.Decrypt(bytes.NewReader(ciphertext), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, fmt.Errorf("the sealed value was encrypted to another vault key than the one in use (%s): use the identity file that sealed it (--vault-identity FILE or %s): %w",
				id.Recipient(), EnvIdentity, ErrWrongIdentity)
		}
		return nil, fmt.Errorf("the sealed value cannot be decrypted (the stored ciphertext is damaged or was altered: %v)", err)
	}
	// One buffer of the final size: no partial copies left by a growing slice.
	out := make([]byte, MaxSecretBytes+1)
	n, err := io.ReadFull(rd, out)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(out)
		return nil, fmt.Errorf("the sealed value cannot be decrypted (the stored ciphertext is damaged or was altered: %v)", err)
	}
	if n > MaxSecretBytes {
		clear(out)
		return nil, fmt.Errorf("the sealed value decrypts to more than %d bytes", MaxSecretBytes)
	}
	return out[:n:n], nil
}

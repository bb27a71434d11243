package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/runtime"
)

// Binding is what a run asks a credential for: which integration, and the
// hosts the runtime will send it to. The runtime's host guard keeps the
// credential on these hosts; the vault checks they are the ones a person
// bound it to, so a spec edited to point elsewhere gets no secret at all.
type Binding struct {
	// Integration is the running spec's metadata.name.
	Integration string
	// Host is the base URL the run uses (or its host).
	Host string
	// TokenHost is the oauth2 token URL (or its host); empty for other auth
	// types. A credential bound without a token host accepts its own host.
	TokenHost string
	// Actor runs the sync (the scheduler, or a person); recorded on use.
	Actor audit.Actor
	// Redactor, when set, learns the value before it is returned, so a run
	// that shares it scrubs the value from everything it writes.
	Redactor *runtime.Redactor
}

// Resolver hands out secrets for one binding. It implements
// runtime.SecretResolver.
type Resolver struct {
	v *Vault
	b Binding
}

var _ runtime.SecretResolver = (*Resolver)(nil)

// Resolver returns the runtime.SecretResolver for a run with binding b.
func (v *Vault) Resolver(b Binding) *Resolver { return &Resolver{v: v, b: b} }

// Resolve implements runtime.SecretResolver: ref is the spec's
// connection.auth.credential. The secret is returned only when the
// credential is live and bound to b's integration and hosts; the use
// (last_used_at and an audit entry) and every refusal (an audit entry) are
// recorded. Errors say what to do and never contain the secret.
func (r *Resolver) Resolve(ctx context.Context, ref string) (runtime.Secret, error) {
	v := r.v
	if v.opts.Audit == nil {
		return runtime.Secret{}, errors.New("vault: no audit log configured; credential use is audited, so none is handed out without one")
	}
	actor := r.b.Actor
	if actor.Kind == "" {
		actor = audit.Actor{Kind: audit.ActorScheduler, Name: "spindle"}
	}
	now := v.now().UTC()
	var secret runtime.Secret
	var refusal error
	err := v.inTx(ctx, func(tx *sql.Tx) error {
		if actor.Kind == audit.ActorAgent {
			// Boundary 4: the agent never reads a credential. The attempt is
			// itself worth recording.
			refusal = fmt.Errorf("credential %q: the agent may not use vault credentials; its runs use sandbox credentials: %w", ref, ErrRefused)
			return v.record(ctx, tx, actor, ActionRefuse, objCredential+ref, now, map[string]any{
				"integration": r.b.Integration, "host": hostOrRaw(r.b.Host), "reason": "the agent may not use vault credentials",
			})
		}
		row, err := getTx(ctx, tx, ref)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("credential %q is not in the vault: a person provisions it with `spindle credential set %s --integration %s --host HOST --as NAME`: %w",
					ref, ref, r.b.Integration, ErrNotFound)
			}
			return err
		}
		defer clear(row.ciphertext)
		if why := r.refuse(row); why != "" {
			refusal = fmt.Errorf("credential %q: %s: %w", ref, why, ErrRefused)
			if row.RevokedAt != nil {
				refusal = fmt.Errorf("credential %q: %s: %w", ref, why, ErrRevoked)
			}
			// The refusal is committed with its audit entry, then returned.
			return v.record(ctx, tx, actor, ActionRefuse, objCredential+ref, now, map[string]any{
				"integration": r.b.Integration, "host": hostOrRaw(r.b.Host), "token_host": hostOrRaw(r.b.TokenHost), "reason": why,
			})
		}
		id, err := v.identity(ctx, false)
		if err != nil {
			return err
		}
		plain, err := decrypt(id, row)
		if err != nil {
			return err
		}
		// runtime.Secret holds a string (immutable, so it cannot be
		// cleared); the byte copy is cleared as soon as it is made.
		value := string(plain)
		clear(plain)
		if _, err := tx.ExecContext(ctx, `UPDATE vault_credentials SET last_used_at = ? WHERE name = ?`, now.UnixNano(), ref); err != nil {
			return fmt.Errorf("vault: record use of credential %q: %w", ref, err)
		}
		if err := v.record(ctx, tx, actor, ActionUse, objCredential+ref, now, map[string]any{
			"integration": row.Integration, "host": row.Host, "version": row.Version,
		}); err != nil {
			return err
		}
		r.b.Redactor.Add(value)
		secret = runtime.NewSecret(value)
		return nil
	})
	if err != nil {
		return runtime.Secret{}, err
	}
	if refusal != nil {
		return runtime.Secret{}, refusal
	}
	return secret, nil
}

// refuse returns why the binding may not have the credential ("" if it may).
func (r *Resolver) refuse(row *row) string {
	if row.RevokedAt != nil {
		return fmt.Sprintf("revoked %s by %s; a person provisions a new one with `spindle credential set %s`",
			row.RevokedAt.Format(time.RFC3339), row.RevokedBy, row.Name)
	}
	if row.Integration != r.b.Integration {
		return fmt.Sprintf("bound to integration %q, not %q; provision a credential for %s under its own name", row.Integration, r.b.Integration, r.b.Integration)
	}
	host, err := NormalizeHost(r.b.Host)
	if err != nil {
		return fmt.Sprintf("the run's host: %v", err)
	}
	if host != row.Host {
		return fmt.Sprintf("bound to host %s, but this run would send it to %s; if the integration really moved, revoke the credential and set it for the new host", row.Host, host)
	}
	if r.b.TokenHost != "" {
		th, err := NormalizeHost(r.b.TokenHost)
		if err != nil {
			return fmt.Sprintf("the run's token host: %v", err)
		}
		bound := row.TokenHost
		if bound == "" {
			bound = row.Host
		}
		if th != bound {
			return fmt.Sprintf("bound to token host %s, but this run would send it to %s; set the credential with --token-host for the token URL's host", bound, th)
		}
	}
	return ""
}

// hostOrRaw is a requested host for an audit entry: normalised when it
// parses. One that does not is not copied in: it might carry user
// information (a password in a URL).
func hostOrRaw(s string) string {
	if s == "" {
		return ""
	}
	if h, err := NormalizeHost(s); err == nil {
		return h
	}
	return "(not a valid host)"
}

// AddToRedactor decrypts the named live credentials (all live ones when no
// name is given) and adds their values to red, so output that is not a
// run's own (a report, a stored payload, another integration's records)
// is scrubbed of every secret the vault knows. Revoked credentials have no
// value left to add.
func (v *Vault) AddToRedactor(ctx context.Context, red *runtime.Redactor, names ...string) error {
	if red == nil {
		return nil
	}
	var rows []*row
	if len(names) == 0 {
		q, err := v.db.QueryContext(ctx, `SELECT `+credColumns+` FROM vault_credentials WHERE ciphertext IS NOT NULL ORDER BY name`)
		if err != nil {
			return fmt.Errorf("vault: read credentials: %w", err)
		}
		for q.Next() {
			r, err := scanRow(q)
			if err != nil {
				q.Close()
				return fmt.Errorf("vault: read credentials: %w", err)
			}
			rows = append(rows, r)
		}
		if err := q.Close(); err != nil {
			return fmt.Errorf("vault: read credentials: %w", err)
		}
		if err := q.Err(); err != nil {
			return fmt.Errorf("vault: read credentials: %w", err)
		}
	} else {
		for _, n := range names {
			r, err := getTx(ctx, v.db, n)
			if err != nil {
				return err
			}
			if r.ciphertext != nil {
				rows = append(rows, r)
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	id, err := v.identity(ctx, false)
	if err != nil {
		return err
	}
	for _, r := range rows {
		plain, err := decrypt(id, r)
		clear(r.ciphertext)
		if err != nil {
			return err
		}
		red.Add(string(plain))
		clear(plain)
	}
	return nil
}

// NormalizeHost reduces a host, host:port or http(s) URL to the form a
// binding is stored and compared in: lower-case host name without a
// trailing dot, and the port only when it is not 80 or 443 (the defaults
// of the two schemes the runtime speaks). So "https://API.x.com/v1",
// "api.x.com:443" and "api.x.com" are one binding, and "api.x.com:8443"
// another.
func NormalizeHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty; pass the API base URL's host, such as api.vendor.com")
	}
	var u *url.URL
	var err error
	if strings.Contains(s, "://") {
		u, err = url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%q is not an http(s) URL or a host; pass a host such as api.vendor.com", s)
		}
	} else {
		if strings.ContainsAny(s, "/?#@ \t") {
			return "", fmt.Errorf("%q is not a host; pass a host such as api.vendor.com or 127.0.0.1:8080", s)
		}
		u, err = url.Parse("//" + s)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%q is not a host; pass a host such as api.vendor.com or 127.0.0.1:8080", s)
		}
	}
	if u.User != nil {
		return "", fmt.Errorf("the host carries user information; pass only the host, such as api.vendor.com")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" || (net.ParseIP(host) == nil && strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "") {
		return "", fmt.Errorf("%q is not a host name; pass a host such as api.vendor.com", s)
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: port %q is not a port number", s, port)
		}
		port = strconv.Itoa(n)
	}
	if port == "" || port == "80" || port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]", nil
		}
		return host, nil
	}
	return net.JoinHostPort(host, port), nil
}

// Package demo is the bundled example behind `spindle example run`: a small
// synthetic vendor API ("Acme Cloud") that serves realistic non-human
// identities on loopback, and the integration spec that reads it. It needs
// no credentials, network or set-up, so a newcomer can watch a whole sync
// end to end, and tests can drive the runtime against four paging styles.
package demo

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// BasePath is where the Acme Cloud API lives on the handler.
const BasePath = "/api/v1"

// Stream names, as the embedded spec names them and Counts keys them.
const (
	StreamUsers              = "users"
	StreamServiceAccounts    = "service_accounts"
	StreamServiceAccountKeys = "service_account_keys"
	StreamWebhooks           = "webhooks"
)

// Streams lists the stream names in spec order.
func Streams() []string {
	return []string{StreamUsers, StreamServiceAccounts, StreamServiceAccountKeys, StreamWebhooks}
}

// defaultNow is the reference "now" of the synthetic data. It is fixed, not
// time.Now, so the same seed always yields byte-identical responses.
// defaultNow is the reference time used when Options.Now is zero.
var defaultNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Defaults used for zero option values. They are sized so that, with the
// embedded spec's page sizes, every list endpoint takes more than one page.
const (
	DefaultUsers           = 120
	DefaultServiceAccounts = 40
	DefaultKeysPerAccount  = 3
	DefaultWebhooks        = 30
)

// Options shapes the synthetic tenant. Zero values take the defaults above;
// negative counts are an error.
type Options struct {
	// Seed makes the data deterministic: the same options give the same
	// records, IDs and token.
	Seed int64
	// Users, ServiceAccounts and Webhooks are record counts; KeysPerAccount
	// is the exact number of API keys each service account holds.
	Users, ServiceAccounts, KeysPerAccount, Webhooks int
	// Token is the synthetic API token the vendor accepts; empty derives
	// one from Seed.
	Token string
	// Now is the reference time every timestamp is at or before; zero means
	// 2026-01-01T00:00:00Z.
	Now time.Time
	// FailStream makes that stream's list endpoint (a name from Streams)
	// answer FailStatus (500 when zero) after authentication, so tests can
	// watch a run fail loudly. Everything else keeps working.
	FailStream string
	FailStatus int
}

// Vendor is the synthetic Acme Cloud API. It is immutable once built and
// safe for concurrent use.
type Vendor struct {
	token      string
	now        time.Time
	failStream string
	failStatus int

	users    []user
	accounts []serviceAccount
	keys     map[string][]apiKey // by service account ID
	accIndex map[string]int      // service account ID → position, for cursors
	webhooks []webhook
	counts   map[string]int
}

// NewHandler builds the synthetic vendor for o.
func NewHandler(o Options) (*Vendor, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	v := generate(o)
	v.token = o.Token
	v.now = o.Now
	v.failStream, v.failStatus = o.FailStream, o.FailStatus
	return v, nil
}

// Token returns the synthetic API token the vendor accepts. It is not a
// secret of any real system; the runtime still treats it as one.
func (v *Vendor) Token() string { return v.token }

// Now returns the reference time of the data.
func (v *Vendor) Now() time.Time { return v.now }

// Counts returns the ground truth: how many records each list holds, keyed
// by stream name. service_account_keys counts keys across all accounts.
func (v *Vendor) Counts() map[string]int { return maps.Clone(v.counts) }

//go:embed integration.yaml
var spec []byte

// Spec returns the embedded spindle/v1 integration spec for Acme Cloud. Its
// base_url is a placeholder host; the CLI points it at the loopback server.
func Spec() []byte { return slices.Clone(spec) }

func (o Options) withDefaults() (Options, error) {
	for _, c := range []struct {
		name string
		n    *int
		def  int
	}{
		{"Users", &o.Users, DefaultUsers},
		{"ServiceAccounts", &o.ServiceAccounts, DefaultServiceAccounts},
		{"KeysPerAccount", &o.KeysPerAccount, DefaultKeysPerAccount},
		{"Webhooks", &o.Webhooks, DefaultWebhooks},
	} {
		switch {
		case *c.n < 0:
			return o, fmt.Errorf("demo: %s is %d; want a count of 0 (default %d) or more", c.name, *c.n, c.def)
		case *c.n == 0:
			*c.n = c.def
		}
	}
	if o.Now.IsZero() {
		o.Now = defaultNow
	}
	// Whole seconds in UTC, so the JSON timestamps are plain RFC 3339.
	o.Now = o.Now.UTC().Truncate(time.Second)
	if o.Token == "" {
		o.Token = derivedToken(o.Seed)
	}
	if strings.IndexFunc(o.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return o, errors.New("demo: Token must not contain spaces or control characters")
	}
	if o.FailStream != "" {
		if !slices.Contains(Streams(), o.FailStream) {
			return o, fmt.Errorf("demo: FailStream %q is not one of %v", o.FailStream, Streams())
		}
		if o.FailStatus == 0 {
			o.FailStatus = 500
		}
	}
	if o.FailStatus != 0 && o.FailStream == "" {
		return o, errors.New("demo: FailStatus needs FailStream to say which endpoint fails")
	}
	if o.FailStatus != 0 && (o.FailStatus < 400 || o.FailStatus > 599) {
		return o, fmt.Errorf("demo: FailStatus %d is not an HTTP error status (400-599)", o.FailStatus)
	}
	return o, nil
}

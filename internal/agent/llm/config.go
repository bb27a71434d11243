package llm

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Providers.
const (
	ProviderOpenAI    = "openai"    // any OpenAI-compatible chat completions server
	ProviderAnthropic = "anthropic" // the Anthropic Messages API
)

// Defaults applied by New when a Config field is zero.
const (
	DefaultMaxTokensPerReply = 4096
	DefaultTimeout           = 2 * time.Minute // per attempt; the SDKs retry twice
	DefaultMaxContextChars   = 100_000         // conversation bound, about 25k tokens
	DefaultMaxTurns          = 200             // model replies in one Drive, a backstop
	maxRetries               = 2
)

const (
	defaultOpenAIBaseURL    = "https://api.openai.com/v1"
	defaultAnthropicBaseURL = "https://api.anthropic.com"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvProvider    = "SPINDLE_LLM_PROVIDER"
	EnvBaseURL     = "SPINDLE_LLM_BASE_URL"
	EnvModel       = "SPINDLE_LLM_MODEL"
	EnvAPIKey      = "SPINDLE_LLM_API_KEY"
	EnvMaxTokens   = "SPINDLE_LLM_MAX_TOKENS"    // per reply
	EnvTemperature = "SPINDLE_LLM_TEMPERATURE"   // OpenAI-compatible only
	EnvPriceIn     = "SPINDLE_LLM_PRICE_IN"      // USD per million input tokens
	EnvPriceOut    = "SPINDLE_LLM_PRICE_OUT"     // USD per million output tokens
	EnvTimeout     = "SPINDLE_LLM_TIMEOUT"       // per request attempt, a Go duration
	EnvContext     = "SPINDLE_LLM_CONTEXT_CHARS" // conversation bound in characters
)

// Secret holds an API key. It prints, logs and marshals as "[REDACTED]"
// whatever the verb or encoder, and it holds the value behind a pointer so
// that even reflection-based printers of an enclosing struct see only an
// address. Reveal is the one way to read it; only the HTTP client
// options call it.
type Secret struct{ v *string }

const redacted = "[REDACTED]"

// NewSecret wraps a key. An empty key gives the zero Secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the key.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether no key is set.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

func (s Secret) shown() string {
	if s.IsZero() {
		return "(none)"
	}
	return redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.shown() }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.shown() }

// Format implements fmt.Formatter, so that no verb (%d, %x, %#v…) can
// reach the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.shown())) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.shown())), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// Config selects and tunes a model. The API key comes from the environment
// (ConfigFromEnv); it is sent only in the model server's auth header and
// never appears in a message, a Note, an error or this Config's printed
// form.
type Config struct {
	// Provider is ProviderOpenAI or ProviderAnthropic.
	Provider string
	// BaseURL of the model server. Empty means the provider's public API.
	// For OpenAI-compatible servers include the /v1 prefix, e.g.
	// http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1 (vLLM).
	BaseURL string
	// Model name as the server knows it.
	Model string
	// APIKey for the model server; may be empty for a local server.
	APIKey Secret
	// MaxTokensPerReply bounds each reply (default DefaultMaxTokensPerReply).
	MaxTokensPerReply int
	// Temperature, when set, is sent to OpenAI-compatible servers (the
	// Anthropic Messages API of SDK v2 takes none).
	Temperature *float64
	// PriceInPerMTok and PriceOutPerMTok are USD per million tokens; with
	// them each reply's cost is charged, so a session cost budget applies.
	PriceInPerMTok  float64
	PriceOutPerMTok float64
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
	// Timeout bounds one request attempt (default DefaultTimeout).
	Timeout time.Duration
	// MaxContextChars bounds the conversation sent with each request:
	// older tool results and spec bodies are elided beyond it, the latest
	// validation report kept (default DefaultMaxContextChars).
	MaxContextChars int
	// MaxTurns bounds the model replies in one Drive (default
	// DefaultMaxTurns), a backstop behind the session's own budgets.
	MaxTurns int
}

// String describes the config without its key.
func (c Config) String() string {
	return fmt.Sprintf("llm.Config{Provider: %s, BaseURL: %s, Model: %s, APIKey: %s}",
		c.Provider, displayURL(c.BaseURL), c.Model, c.APIKey.shown())
}

// GoString is String, so %#v cannot reach the key either.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("provider", c.Provider),
		slog.String("base_url", displayURL(c.BaseURL)),
		slog.String("model", c.Model),
		slog.String("api_key", c.APIKey.shown()),
	)
}

// displayURL drops any user info from a URL before it is shown.
func displayURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// ConfigFromEnv reads the model configuration from getenv (os.Getenv in
// production): SPINDLE_LLM_PROVIDER, SPINDLE_LLM_MODEL, SPINDLE_LLM_BASE_URL
// and SPINDLE_LLM_API_KEY (falling back to OPENAI_API_KEY or
// ANTHROPIC_API_KEY for the provider), plus the optional
// SPINDLE_LLM_MAX_TOKENS, _TEMPERATURE, _PRICE_IN, _PRICE_OUT, _TIMEOUT and
// _CONTEXT_CHARS. Errors name the variable to set and never contain the key.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var c Config
	c.Provider = strings.ToLower(env(EnvProvider))
	switch c.Provider {
	case ProviderOpenAI, ProviderAnthropic:
	case "":
		return Config{}, fmt.Errorf("set %s to %q (any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp) or %q",
			EnvProvider, ProviderOpenAI, ProviderAnthropic)
	default:
		return Config{}, fmt.Errorf("%s=%q is not a provider: use %q or %q",
			EnvProvider, c.Provider, ProviderOpenAI, ProviderAnthropic)
	}
	c.Model = env(EnvModel)
	if c.Model == "" {
		return Config{}, fmt.Errorf("set %s to the model name the %s server knows (e.g. gpt-4.1, qwen2.5-coder:32b, claude-sonnet-4-5)",
			EnvModel, c.Provider)
	}
	c.BaseURL = env(EnvBaseURL)
	key := getenv(EnvAPIKey)
	if key == "" {
		key = getenv(fallbackKeyVar(c.Provider))
	}
	c.APIKey = NewSecret(strings.TrimSpace(key))

	if v := env(EnvMaxTokens); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("%s=%q: want a positive integer (tokens per reply)", EnvMaxTokens, v)
		}
		c.MaxTokensPerReply = n
	}
	if v := env(EnvTemperature); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 2 {
			return Config{}, fmt.Errorf("%s=%q: want a number from 0 to 2", EnvTemperature, v)
		}
		c.Temperature = &f
	}
	for _, p := range []struct {
		name string
		dst  *float64
	}{{EnvPriceIn, &c.PriceInPerMTok}, {EnvPriceOut, &c.PriceOutPerMTok}} {
		if v := env(p.name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return Config{}, fmt.Errorf("%s=%q: want USD per million tokens, a number ≥ 0", p.name, v)
			}
			*p.dst = f
		}
	}
	if v := env(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s=%q: want a positive Go duration such as 90s or 5m", EnvTimeout, v)
		}
		c.Timeout = d
	}
	if v := env(EnvContext); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4000 {
			return Config{}, fmt.Errorf("%s=%q: want an integer ≥ 4000 (characters)", EnvContext, v)
		}
		c.MaxContextChars = n
	}
	if err := c.check(); err != nil {
		if c.APIKey.IsZero() && errors.Is(err, errNeedKey) {
			return Config{}, fmt.Errorf("set %s (or %s) to the %s API key: %s needs one",
				EnvAPIKey, fallbackKeyVar(c.Provider), c.Provider, c.baseURL())
		}
		return Config{}, err
	}
	return c, nil
}

func fallbackKeyVar(provider string) string {
	if provider == ProviderAnthropic {
		return "ANTHROPIC_API_KEY"
	}
	return "OPENAI_API_KEY"
}

var errNeedKey = errors.New("an API key is needed")

// baseURL is the effective base URL.
func (c Config) baseURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	if c.Provider == ProviderAnthropic {
		return defaultAnthropicBaseURL
	}
	return defaultOpenAIBaseURL
}

// check validates a config; its errors never contain the key.
func (c Config) check() error {
	switch c.Provider {
	case ProviderOpenAI, ProviderAnthropic:
	default:
		return fmt.Errorf("llm: provider %q: use %q or %q", c.Provider, ProviderOpenAI, ProviderAnthropic)
	}
	if c.Model == "" {
		return fmt.Errorf("llm: no model: set %s", EnvModel)
	}
	base := c.baseURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("llm: base URL %q: want an absolute http(s) URL such as http://127.0.0.1:11434/v1 (%s)", displayURL(base), EnvBaseURL)
	}
	if u.User != nil {
		return fmt.Errorf("llm: base URL %q carries user info: put the key in %s, never in the URL", displayURL(base), EnvAPIKey)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("llm: base URL %q: no query or fragment, please", displayURL(base))
	}
	if u.Scheme == "http" && !c.APIKey.IsZero() && !isLoopback(u.Hostname()) {
		return fmt.Errorf("llm: base URL %q is plain http to a non-loopback host: the API key would cross the network unencrypted; use https or a loopback address", displayURL(base))
	}
	if c.BaseURL == "" && c.APIKey.IsZero() {
		return fmt.Errorf("llm: %s: %w", base, errNeedKey)
	}
	if c.MaxTokensPerReply < 0 || c.MaxContextChars < 0 || c.MaxTurns < 0 || c.Timeout < 0 ||
		c.PriceInPerMTok < 0 || c.PriceOutPerMTok < 0 {
		return errors.New("llm: negative limits or prices are not allowed")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxTokensPerReply == 0 {
		c.MaxTokensPerReply = DefaultMaxTokensPerReply
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxContextChars == 0 {
		c.MaxContextChars = DefaultMaxContextChars
	}
	if c.MaxTurns == 0 {
		c.MaxTurns = DefaultMaxTurns
	}
	return c
}

// cost is the USD price of one reply, 0 when no prices are configured.
func (c Config) cost(in, out int) float64 {
	return float64(in)*c.PriceInPerMTok/1e6 + float64(out)*c.PriceOutPerMTok/1e6
}

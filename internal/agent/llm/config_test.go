package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" for success
		check   func(t *testing.T, c Config)
	}{
		{name: "no provider", env: map[string]string{}, wantErr: "set SPINDLE_LLM_PROVIDER"},
		{name: "bad provider", env: map[string]string{EnvProvider: "gemini", EnvModel: "m"}, wantErr: `"gemini" is not a provider`},
		{name: "no model", env: map[string]string{EnvProvider: "openai", EnvAPIKey: testKey}, wantErr: "set SPINDLE_LLM_MODEL"},
		{name: "openai public API needs a key", env: map[string]string{EnvProvider: "openai", EnvModel: "gpt-4.1"},
			wantErr: "set SPINDLE_LLM_API_KEY (or OPENAI_API_KEY)"},
		{name: "anthropic public API needs a key", env: map[string]string{EnvProvider: "anthropic", EnvModel: "claude", "OPENAI_API_KEY": testKey},
			wantErr: "(or ANTHROPIC_API_KEY)"},
		{name: "openai fallback key", env: map[string]string{EnvProvider: "OpenAI", EnvModel: "gpt-4.1", "OPENAI_API_KEY": testKey, "ANTHROPIC_API_KEY": "other-key-123456"},
			check: func(t *testing.T, c Config) {
				if c.Provider != ProviderOpenAI || c.APIKey.Reveal() != testKey || c.baseURL() != defaultOpenAIBaseURL {
					t.Errorf("config = %v (key ok: %t)", c, c.APIKey.Reveal() == testKey)
				}
			}},
		{name: "anthropic fallback key", env: map[string]string{EnvProvider: "anthropic", EnvModel: "claude", "ANTHROPIC_API_KEY": testKey},
			check: func(t *testing.T, c Config) {
				if c.APIKey.Reveal() != testKey || c.baseURL() != defaultAnthropicBaseURL {
					t.Errorf("config = %v", c)
				}
			}},
		{name: "spindle key wins", env: map[string]string{EnvProvider: "anthropic", EnvModel: "claude", EnvAPIKey: testKey, "ANTHROPIC_API_KEY": "other-key-123456"},
			check: func(t *testing.T, c Config) {
				if c.APIKey.Reveal() != testKey {
					t.Error("SPINDLE_LLM_API_KEY did not win")
				}
			}},
		{name: "local ollama without a key", env: map[string]string{EnvProvider: "openai", EnvModel: "qwen2.5-coder:32b", EnvBaseURL: "http://127.0.0.1:11434/v1"},
			check: func(t *testing.T, c Config) {
				if !c.APIKey.IsZero() || c.baseURL() != "http://127.0.0.1:11434/v1" {
					t.Errorf("config = %v", c)
				}
			}},
		{name: "lan server over http without a key", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvBaseURL: "http://10.0.0.5:8000/v1"}},
		{name: "key over plain http to another host", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvBaseURL: "http://10.0.0.5:8000/v1", EnvAPIKey: testKey},
			wantErr: "unencrypted"},
		{name: "user info in the URL", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvBaseURL: "https://user:" + testKey + "@llm.example.com/v1"},
			wantErr: "carries user info"},
		{name: "relative URL", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvBaseURL: "llm.example.com/v1"}, wantErr: "absolute http(s) URL"},
		{name: "tuning", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvAPIKey: testKey, EnvMaxTokens: "2048", EnvTemperature: "0.2",
			EnvPriceIn: "3", EnvPriceOut: "15", EnvTimeout: "90s", EnvContext: "50000"},
			check: func(t *testing.T, c Config) {
				if c.MaxTokensPerReply != 2048 || c.Temperature == nil || *c.Temperature != 0.2 || c.PriceInPerMTok != 3 ||
					c.PriceOutPerMTok != 15 || c.Timeout != 90*time.Second || c.MaxContextChars != 50000 {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "bad max tokens", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvAPIKey: testKey, EnvMaxTokens: "lots"}, wantErr: EnvMaxTokens},
		{name: "bad temperature", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvAPIKey: testKey, EnvTemperature: "7"}, wantErr: EnvTemperature},
		{name: "bad price", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvAPIKey: testKey, EnvPriceOut: "-1"}, wantErr: EnvPriceOut},
		{name: "bad timeout", env: map[string]string{EnvProvider: "openai", EnvModel: "m", EnvAPIKey: testKey, EnvTimeout: "10"}, wantErr: EnvTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnv(envOf(tc.env))
			if err != nil && strings.Contains(err.Error(), testKey) {
				t.Fatalf("the error leaks the key: %v", err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			if _, err := New(c); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no provider", Config{Model: "m"}, "provider"},
		{"no model", Config{Provider: ProviderOpenAI, BaseURL: "http://127.0.0.1:1/v1"}, "no model"},
		{"public API without key", Config{Provider: ProviderAnthropic, Model: "m"}, "needs an API key"},
		{"negative", Config{Provider: ProviderOpenAI, Model: "m", BaseURL: "http://127.0.0.1:1/v1", MaxTurns: -1}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestKeyNeverPrinted formats a Config, its key and the brain every way a
// log line or error might.
func TestKeyNeverPrinted(t *testing.T) {
	cfg := Config{Provider: ProviderOpenAI, Model: "m", BaseURL: "https://llm.example.com/v1", APIKey: NewSecret(testKey)}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type wrapper struct {
		C   Config
		Key Secret
		b   any
	}
	w := wrapper{C: cfg, Key: cfg.APIKey, b: b}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, cfg.APIKey), fmt.Sprintf(verb, &cfg),
			fmt.Sprintf(verb, w), fmt.Sprintf(verb, &w), fmt.Sprintf(verb, b))
	}
	for _, v := range []any{cfg, w, cfg.APIKey, map[string]any{"k": cfg.APIKey}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j))
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("cfg", "config", cfg, "key", cfg.APIKey, "wrapper", w, "brain", b)
	}
	outs = append(outs, logs.String())
	for _, o := range outs {
		if strings.Contains(o, testKey) || strings.Contains(o, fmt.Sprintf("%x", testKey)) {
			t.Errorf("the key leaked: %s", o)
		}
	}
	if !strings.Contains(cfg.String(), "[REDACTED]") || !strings.Contains(fmt.Sprint(Config{}), "APIKey: (none)") {
		t.Errorf("String = %s", cfg)
	}
	if cfg.APIKey.Reveal() != testKey {
		t.Error("Reveal lost the key")
	}
}

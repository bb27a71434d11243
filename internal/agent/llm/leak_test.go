package llm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
)

// TestAPIKeyNeverLeaks drives a session in which the key shows up where it
// never should (a tool result, the model's words, the server's error body)
// and checks that it reaches the server only as the auth header.
func TestAPIKeyNeverLeaks(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p,
				step{text: "Let me check auth.", calls: []sc{call(agent.ToolGetAuth, map[string]any{})}},
				step{text: "The doc mentions " + testKey + ", I will not use it.",
					calls: []sc{call(agent.ToolSearchDocs, map[string]string{"query": "token"})}},
				step{text: "thinking"}, // no call: noted with an excerpt of the words
				step{status: 401, errBody: `{"error":{"message":"bad key ` + testKey + `","type":"authentication_error"}}`},
			)
			ft := newFakeTools(func(name string, _ json.RawMessage) agent.ToolResult {
				// As if the vendor doc quoted the very key.
				return agent.ToolResult{Text: `{"untrusted_vendor_text":true,"hits":["use Authorization: Bearer ` + testKey + `"]}`}
			})
			ft.brief.Task += "\nexample header: " + testKey
			err := srv.brain().Drive(context.Background(), ft)
			if err == nil {
				t.Fatal("Drive succeeded; want the 401")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("the error leaks the key: %v", err)
			}
			reqs := srv.requests()
			if len(reqs) != 4 {
				t.Fatalf("%d requests, want 4", len(reqs))
			}
			for i, r := range reqs {
				if strings.Contains(string(r.body), testKey) {
					t.Errorf("request %d body holds the key", i)
				}
				for name, vals := range r.header {
					for _, v := range vals {
						if !strings.Contains(v, testKey) {
							continue
						}
						if !strings.EqualFold(name, "Authorization") || v != "Bearer "+testKey {
							t.Errorf("request %d header %s carries the key in an unexpected form", i, name)
						}
					}
				}
				if got := r.header.Get("Authorization"); got != "Bearer "+testKey {
					t.Errorf("request %d Authorization = %q, want the test key only", i, redactKey(got))
				}
				if len(r.header.Values("Authorization")) != 1 {
					t.Errorf("request %d has %d Authorization headers", i, len(r.header.Values("Authorization")))
				}
			}
			// The redaction marker did reach the model in place of the key.
			if !strings.Contains(string(reqs[2].body), "[REDACTED]") {
				t.Error("no [REDACTED] marker in the request after the leaking tool result")
			}
			for _, n := range ft.notes {
				if strings.Contains(n.text, testKey) || strings.Contains(n.kind, testKey) {
					t.Errorf("note %s leaks the key", n.kind)
				}
			}
			for _, c := range ft.calls {
				if strings.Contains(string(c.args), testKey) {
					t.Errorf("call %s args leak the key", c.name)
				}
			}
		})
	}
}

func redactKey(s string) string { return strings.ReplaceAll(s, testKey, "<test key>") }

// TestNoAmbientCredentials: the clients read nothing from the provider
// SDKs' own environment variables — only Config.APIKey is sent.
func TestNoAmbientCredentials(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-ambient-openai-000000000")
	t.Setenv("OPENAI_ORG_ID", "org-ambient")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Ambient: yes")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-ambient-000000000")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "ambient-token-000000000")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Ambient: yes")
	for _, p := range providers {
		for _, withKey := range []bool{true, false} {
			name := p + "/no key"
			if withKey {
				name = p + "/key"
			}
			t.Run(name, func(t *testing.T) {
				srv := newScriptServer(t, p, step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}})
				b := srv.brain(func(c *Config) {
					if !withKey {
						c.APIKey = Secret{}
					}
				})
				if err := b.Drive(context.Background(), newFakeTools(nil)); err != nil {
					t.Fatal(err)
				}
				h := srv.requests()[0].header
				want := ""
				if withKey {
					want = "Bearer " + testKey
				}
				if got := h.Get("Authorization"); got != want {
					t.Errorf("Authorization = %q, want %q", redactKey(got), redactKey(want))
				}
				for name := range h {
					if lc := strings.ToLower(name); lc == "x-ambient" || lc == "openai-organization" || lc == "x-api-key" {
						t.Errorf("ambient header %s sent", name)
					}
				}
			})
		}
	}
}

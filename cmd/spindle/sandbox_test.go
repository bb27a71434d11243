package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/sandbox"
)

// lockedBuffer is written by the serving command and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tinyDoc is a small hand-written OpenAPI document: bearer auth, one
// offset-paged list of keys with an item endpoint.
const tinyDoc = `openapi: 3.0.3
info: {title: Tiny, version: "1.0"}
servers: [{url: "https://api.tiny.example/v1"}]
components:
  securitySchemes:
    token: {type: http, scheme: bearer}
  schemas:
    Key:
      type: object
      required: [id, name, created_at]
      properties:
        id: {type: string, format: uuid}
        name: {type: string}
        created_at: {type: string, format: date-time}
        last_used_at: {type: string, format: date-time, nullable: true}
        expires_at: {type: string, format: date-time, nullable: true}
security: [{token: []}]
paths:
  /keys:
    get:
      operationId: listKeys
      parameters:
        - {name: limit, in: query, description: page size, schema: {type: integer, maximum: 50}}
        - {name: offset, in: query, description: offset of the first record, schema: {type: integer}}
      responses:
        "200":
          description: the keys
          content:
            application/json:
              schema:
                type: object
                required: [keys]
                properties:
                  keys: {type: array, items: {$ref: "#/components/schemas/Key"}}
                  more: {type: boolean}
  /keys/{id}:
    get:
      operationId: getKey
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: one key
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Key"}
`

func TestSandboxServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	doc := writeFile(t, dir, "tiny.yaml", []byte(tinyDoc))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "serve", doc, "--faults", "teapot"}, "--faults"},
		{[]string{"sandbox", "serve", doc, "--addr", "0.0.0.0:0"}, "not loopback"},
		{[]string{"sandbox", "serve", doc, "--addr", "localhost:0"}, "not a name"},
		{[]string{"sandbox", "serve", doc, "--entities", "0"}, "--entities"},
		{[]string{"sandbox", "serve", doc, "--faults", "drift:drop=nofield@/keys"}, "nofield"},
		{[]string{"sandbox", "serve"}, "accepts 1 arg"},
	} {
		r := spindle(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("spindle %s: want exit 2 mentioning %q, got %s", strings.Join(tc.args, " "), tc.want, r)
		}
	}
	if r := spindle(t, "sandbox", "serve", filepath.Join(dir, "missing.yaml")); r.code != 1 {
		t.Errorf("a missing document: %s", r)
	}
}

// serveInBackground runs `spindle sandbox serve` until the test cancels
// it, and waits for its first output.
func serveInBackground(t *testing.T, args ...string) (stdout *lockedBuffer, stop func() cliResult) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout = &lockedBuffer{}
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- execute(ctx, args, strings.NewReader(""), stdout, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "\n") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("sandbox serve exited early: %d\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("sandbox serve printed nothing")
		}
	}
	time.Sleep(50 * time.Millisecond) // let the whole listing arrive
	return stdout, func() cliResult {
		cancel()
		select {
		case code := <-done:
			return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
		case <-time.After(10 * time.Second):
			t.Fatal("sandbox serve did not stop on cancel")
			return cliResult{}
		}
	}
}

func TestSandboxServe(t *testing.T) {
	dir := t.TempDir()
	doc := writeFile(t, dir, "tiny.yaml", []byte(tinyDoc))
	truthFile := filepath.Join(dir, "truth.json")
	out, stop := serveInBackground(t, "sandbox", "serve", doc, "--seed", "5", "--entities", "12", "--truth", truthFile)
	text := out.String()
	base := regexp.MustCompile(`Base URL:\s+(\S+)`).FindStringSubmatch(text)
	tok := regexp.MustCompile(`Authorization: Bearer (sbx_\S+)`).FindStringSubmatch(text)
	if base == nil || tok == nil || !strings.Contains(text, "Synthetic credentials") || !strings.Contains(text, "GET /keys") {
		stop()
		t.Fatalf("unexpected listing:\n%s", text)
	}
	if !strings.HasPrefix(base[1], "http://127.0.0.1:") || !strings.HasSuffix(base[1], "/v1") {
		t.Errorf("base URL %s", base[1])
	}
	req, _ := http.NewRequest("GET", base[1]+"/keys?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	var body struct {
		Keys []struct {
			ID string `json:"id"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body.Keys) != 12 {
		t.Errorf("GET /keys: %d with %d keys, want 200 with 12", resp.StatusCode, len(body.Keys))
	}
	noAuth, _ := http.Get(base[1] + "/keys")
	if noAuth != nil {
		noAuth.Body.Close()
		if noAuth.StatusCode != 401 {
			t.Errorf("without the token: %d", noAuth.StatusCode)
		}
	}
	r := stop()
	if r.code != 0 || !strings.Contains(r.stderr, "stopped after 2 requests") {
		t.Errorf("stop: %s", r)
	}
	raw, err := os.ReadFile(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	var truth sandbox.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatalf("truth file: %v", err)
	}
	ot, ok := truth.Operation("GET", "/keys")
	if !ok || len(ot.IDs) != 12 || truth.Seed != 5 {
		t.Fatalf("truth: %+v", truth)
	}
	for i, k := range body.Keys {
		if k.ID != ot.IDs[i] {
			t.Errorf("key %d: served %s, truth %s", i, k.ID, ot.IDs[i])
		}
	}
}

func TestSandboxServeJSON(t *testing.T) {
	dir := t.TempDir()
	doc := writeFile(t, dir, "tiny.yaml", []byte(tinyDoc))
	out, stop := serveInBackground(t, "sandbox", "serve", doc, "--json", "--faults", "429:2")
	var info struct {
		BaseURL     string               `json:"base_url"`
		Credentials []sandbox.Credential `json:"credentials"`
		Operations  []sandbox.Operation  `json:"operations"`
		Faults      []string             `json:"faults"`
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		stop()
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if len(info.Credentials) != 1 || info.Credentials[0].Type != "http" || !strings.HasPrefix(info.Credentials[0].Value, "sbx_") ||
		len(info.Operations) != 2 || len(info.Faults) != 1 || info.Faults[0] != "429:every=2:after=1s" {
		t.Errorf("info: %+v", info)
	}
	var codes []int
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", info.BaseURL+"/keys", nil)
		info.Credentials[0].Apply(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 429 {
		t.Errorf("statuses %v, want [200 429]", codes)
	}
	if r := stop(); r.code != 0 {
		t.Errorf("stop: %s", r)
	}
}

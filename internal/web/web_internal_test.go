package web

import (
	"reflect"
	"testing"
)

func TestParseDiff(t *testing.T) {
	d := "--- release 1\n+++ proposal 2\n@@ -1,3 +1,3 @@\n a: 1\n-b: 2\n+b: 3\n--- c\n"
	want := []diffLine{{"file", "--- release 1"}, {"file", "+++ proposal 2"}, {"hunk", "@@ -1,3 +1,3 @@"},
		{"ctx", " a: 1"}, {"del", "-b: 2"}, {"add", "+b: 3"}, {"del", "--- c"}}
	if got := parseDiff(d); !reflect.DeepEqual(got, want) {
		t.Errorf("parseDiff:\n got %v\nwant %v", got, want)
	}
	if got := parseDiff(""); got != nil {
		t.Errorf("an empty diff gives %v", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/audit?x=1": "/audit?x=1", "": "/", "//evil.example": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "javascript:alert(1)": "/", "/a\r\nSet-Cookie: x": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAttributeValueRedactsSecretNames(t *testing.T) {
	tests := []struct {
		key  string
		v    any
		want string
	}{
		{"client_secret", "s3cr3t", "[redacted]"},
		{"url", "https://hooks.example/services/T0/B0/x", "https://hooks.example/… (path redacted)"},
		{"callback", "https://user:pw@hooks.example/", "[redacted]"},
		{"nested", map[string]any{"hook": "https://hooks.example/a?k=v", "api_key": "x"}, `{"api_key":"[redacted]","hook":"https://hooks.example/… (path redacted)"}`},
		{"password", "pw", "[redacted]"},
		{"token_id", "tok_123", "tok_123"},
		{"homepage", "https://example.com/", "https://example.com/"},
		{"labels", map[string]any{"team": "x"}, `{"team":"x"}`},
	}
	for _, tc := range tests {
		if got := attributeValue(tc.key, tc.v); got != tc.want {
			t.Errorf("attributeValue(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

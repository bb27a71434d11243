package production

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/runtime"
)

// TestRedactHandler: whatever the caller's format, a run's secret never
// reaches its log — in the message, a string, an error, a group, an
// attribute added with With, or any other value — and records below the
// run's verbosity are dropped.
func TestRedactHandler(t *testing.T) {
	const secret = "tok-Zq81nXc0PdTs"
	red := runtime.NewRedactor()
	red.Add(secret)
	for _, tc := range []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Warn("retry with " + secret) }},
		{"string", func(l *slog.Logger) { l.Warn("retry", "url", "https://x/?token="+secret) }},
		{"error", func(l *slog.Logger) { l.Warn("retry", "err", errors.New("401 for "+secret)) }},
		{"group", func(l *slog.Logger) { l.Warn("retry", slog.Group("req", "auth", "Bearer "+secret)) }},
		{"with", func(l *slog.Logger) { l.With("header", secret).Warn("retry") }},
		{"any", func(l *slog.Logger) { l.Warn("retry", "headers", map[string]string{"Authorization": secret}) }},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&buf, nil)
				if format == "json" {
					h = slog.NewJSONHandler(&buf, nil)
				}
				tc.log(slog.New(&redactHandler{h: h, red: red, min: slog.LevelWarn}))
				if out := buf.String(); strings.Contains(out, secret) || !strings.Contains(out, runtime.Redacted) {
					t.Errorf("logged %q", out)
				}
			})
		}
	}
	var buf bytes.Buffer
	l := slog.New(&redactHandler{h: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), red: red, min: slog.LevelWarn})
	l.Debug("each request")
	if buf.Len() != 0 {
		t.Errorf("a debug record passed a warn floor: %q", buf.String())
	}
}

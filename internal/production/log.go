package production

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/runtime"
)

// redactHandler scrubs a run's secrets from every message and value before
// the caller's handler formats them, whatever its format (text for a
// terminal, JSON for a worker's log), and drops records below min (the
// run's verbosity).
type redactHandler struct {
	h   slog.Handler
	red *runtime.Redactor
	min slog.Level
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= r.min && r.h.Enabled(ctx, l)
}

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.red.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = r.attr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(clean), red: r.red, min: r.min}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), red: r.red, min: r.min}
}

// attr redacts a's strings; values of other kinds are formatted to text
// first, since a secret could hide in any of them.
func (r *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.red.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = r.attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, r.red.String(x.Error()))
		default:
			return slog.String(a.Key, r.red.String(fmt.Sprintf("%+v", x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// progress prints a line per stream at most twice a second (the first
// page always); the caller's summary has the final figures.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, last: map[string]time.Time{}}
}

func (p *progress) update(pr runtime.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last[pr.Stream]) < 500*time.Millisecond {
		return
	}
	p.last[pr.Stream] = time.Now()
	fmt.Fprintf(p.w, "  %-28s page %-6d %8d records  %d retries\n", pr.Stream, pr.Pages, pr.Records, pr.Retries)
}

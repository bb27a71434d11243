package runtime

import (
	"log/slog"
	"net/http"
	"time"
)

type logTransport struct {
	next   http.RoundTripper
	logger *slog.Logger
	red    *Redactor
}

// NewRequestLog logs each attempt to logger: method, URL, status and
// duration at debug level, failures at warn. It belongs above the auth
// layer, where requests do not yet carry the credential; the URL and error
// still pass through red in case a caller put a secret there. A nil logger
// logs nothing.
func NewRequestLog(next http.RoundTripper, logger *slog.Logger, red *Redactor) http.RoundTripper {
	if logger == nil {
		return next
	}
	return &logTransport{next: next, logger: logger, red: red}
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", t.red.String(req.URL.String())),
		slog.Duration("duration", time.Since(start)),
	}
	ctx := req.Context()
	if err != nil {
		err = t.red.Error(err)
		t.logger.LogAttrs(ctx, slog.LevelWarn, "http request failed", append(attrs, slog.String("error", err.Error()))...)
		return nil, err
	}
	t.logger.LogAttrs(ctx, slog.LevelDebug, "http request", append(attrs, slog.Int("status", resp.StatusCode))...)
	return resp, nil
}

package drift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// ErrDocUnreadable marks a vendor doc that could not be read from its
// location at all (missing file, unreachable URL, an HTTP error, over the
// size limit), as opposed to one that was read and turned out different.
var ErrDocUnreadable = errors.New("vendor doc unreadable")

// DocPath turns a recorded metadata.source_doc.location into what the
// loaders read: an http(s) URL as is, a file path with the "file:" or
// "file://" prefix the draft adds to paths that look like secrets removed.
func DocPath(location string) string {
	switch {
	case strings.HasPrefix(location, "file://"):
		return strings.TrimPrefix(location, "file://")
	case strings.HasPrefix(location, "file:"):
		return strings.TrimPrefix(location, "file:")
	}
	return location
}

// Where names a location for messages: a URL without user info or query
// (either may carry a token), a path as is.
func Where(location string) string {
	if !isURL(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return "an unparseable URL"
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		out += "?…"
	}
	return out
}

// fetchDoc reads the document at location (a file path, "file:" path or
// http(s) URL) whole. The doc is hostile input: it is bounded by
// o.Surface.MaxBytes (default apisurface.DefaultMaxBytes), a file must be
// a regular file (not a FIFO or device that would never end), and a URL
// is fetched with o.Surface.HTTPClient (default: a one-minute timeout)
// under ctx. Errors name the location and wrap ErrDocUnreadable.
func fetchDoc(ctx context.Context, location string, o Options) ([]byte, error) {
	limit := o.Surface.MaxBytes
	if limit <= 0 {
		limit = apisurface.DefaultMaxBytes
	}
	loc := DocPath(location)
	if strings.TrimSpace(loc) == "" {
		return nil, fmt.Errorf("%w: no location recorded", ErrDocUnreadable)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("read the vendor doc at %s: %w: %s", Where(location), ErrDocUnreadable, fmt.Sprintf(format, a...))
	}
	var rd io.Reader
	if isURL(loc) {
		c := o.Surface.HTTPClient
		if c == nil {
			c = &http.Client{Timeout: time.Minute}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, fail("not a valid URL")
		}
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("read the vendor doc at %s: %w", Where(location), ctx.Err())
			}
			// *url.Error repeats the full URL; say only what went wrong.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fail("%v; check the URL is reachable from here", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fail("the server answered %s", resp.Status)
		}
		if resp.ContentLength > limit {
			return nil, fail("it is %d bytes, over the limit of %d", resp.ContentLength, limit)
		}
		rd = resp.Body
	} else {
		f, err := os.Open(loc)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fail("no such file (a relative location resolves against the current directory: run from where the build ran, or rebuild from an absolute path or URL)")
			}
			return nil, fail("%v", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, fail("%v", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fail("not a regular file")
		}
		if st.Size() > limit {
			return nil, fail("it is %d bytes, over the limit of %d", st.Size(), limit)
		}
		rd = f
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read the vendor doc at %s: %w", Where(location), ctx.Err())
		}
		return nil, fail("%v", err)
	}
	if int64(len(b)) > limit {
		return nil, fail("it is over the limit of %d bytes", limit)
	}
	if len(b) == 0 {
		return nil, fail("it is empty")
	}
	return b, nil
}

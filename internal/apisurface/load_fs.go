package apisurface

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi/index"
)

// localFiles is the file system libopenapi reads a file document's
// external $refs through. It delegates to libopenapi's own LocalFS, but
// first confines every file to the entry document's directory tree and
// caps its size: a hostile document must not pull in /etc, a FIFO or a
// multi-gigabyte file.
type localFiles struct {
	root string // absolute, symlinks resolved
	max  int64

	mu      sync.Mutex
	inner   *index.LocalFS
	rolodex *index.Rolodex
	logger  *slog.Logger
	// checked caches check: libopenapi opens the same file many times.
	checked sync.Map // name → checkResult
}

type checkResult struct {
	abs string
	err error
}

func newLocalFiles(root string, max int64) *localFiles {
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	return &localFiles{root: root, max: max}
}

// SetRolodex is called by the rolodex when it adopts the file system;
// the index configuration it carries is the one libopenapi's LocalFS
// needs to index each file it opens.
func (l *localFiles) SetRolodex(r *index.Rolodex) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rolodex = r
}

func (l *localFiles) SetLogger(lg *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logger = lg
}

func (l *localFiles) fs() (*index.LocalFS, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner != nil {
		return l.inner, nil
	}
	if l.rolodex == nil || l.rolodex.GetConfig() == nil {
		return nil, fmt.Errorf("file references are not set up")
	}
	cfg := l.rolodex.GetConfig()
	// libopenapi sets this itself for the file systems it creates.
	cfg.AllowFileLookup = true
	in, err := index.NewLocalFSWithConfig(&index.LocalFSConfig{BaseDirectory: l.root, IndexConfig: cfg, Logger: l.logger})
	if err != nil {
		return nil, err
	}
	in.SetRolodex(l.rolodex)
	if l.logger != nil {
		in.SetLogger(l.logger)
	}
	l.inner = in
	return in, nil
}

// Stat answers libopenapi's "does this file exist" probes without
// opening (and indexing) the file, within the same confinement as Open.
func (l *localFiles) Stat(name string) (fs.FileInfo, error) {
	abs, err := l.checkCached(name)
	if err != nil {
		return nil, err
	}
	return os.Stat(abs)
}

func (l *localFiles) Open(name string) (fs.File, error) {
	return l.OpenWithContext(context.Background(), name)
}

func (l *localFiles) OpenWithContext(ctx context.Context, name string) (fs.File, error) {
	abs, err := l.checkCached(name)
	if err != nil {
		return nil, err
	}
	in, err := l.fs()
	if err != nil {
		return nil, err
	}
	return in.OpenWithContext(ctx, abs)
}

func (l *localFiles) checkCached(name string) (string, error) {
	if v, ok := l.checked.Load(name); ok {
		res := v.(checkResult)
		return res.abs, res.err
	}
	var res checkResult
	res.abs, res.err = l.check(name)
	l.checked.Store(name, res)
	return res.abs, res.err
}

// check resolves name (absolute, or relative to the root) and refuses
// anything outside the root or not a small regular file.
func (l *localFiles) check(name string) (string, error) {
	p := filepath.FromSlash(name)
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.root, p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if !within(l.root, real) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("refused: outside the document's directory %s", l.root)}
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !st.Mode().IsRegular() {
		return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("refused: not a regular file")}
	}
	if st.Size() > l.max {
		return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("refused: %d bytes, over the size limit of %d bytes", st.Size(), l.max)}
	}
	return p, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// GetFiles lists the files read so far (the rolodex indexes them).
func (l *localFiles) GetFiles() map[string]index.RolodexFile {
	l.mu.Lock()
	in := l.inner
	l.mu.Unlock()
	if in == nil {
		return map[string]index.RolodexFile{}
	}
	return in.GetFiles()
}

// count is the number of files read besides the entry document.
func (l *localFiles) count(entry string) int {
	n := 0
	for p := range l.GetFiles() {
		if p != entry {
			n++
		}
	}
	return n
}

// remoteFetcher fetches a URL document and its remote $refs through the
// caller's client, with the load's context and size cap. $refs are
// fetched only from the document's own origin, redirects included: a
// hostile document must not make Spindle reach other hosts (cloud
// metadata, internal services).
type remoteFetcher struct {
	ctx    context.Context
	origin *url.URL
	opts   Options
	refs   *http.Client // opts.HTTPClient, redirects held to the origin

	mu      sync.Mutex
	fetched map[string]bool
}

func newRemoteFetcher(ctx context.Context, origin *url.URL, opts Options) *remoteFetcher {
	r := &remoteFetcher{ctx: ctx, origin: origin, opts: opts, fetched: map[string]bool{}}
	c := *opts.HTTPClient
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return r.allowed(req.URL)
	}
	r.refs = &c
	return r
}

func (r *remoteFetcher) allowed(u *url.URL) error {
	if !strings.EqualFold(u.Scheme, r.origin.Scheme) || !strings.EqualFold(u.Host, r.origin.Host) {
		return fmt.Errorf("refused %s: remote $refs are followed only on the document's own origin %s://%s", u.Redacted(), r.origin.Scheme, r.origin.Host)
	}
	return nil
}

// get performs a GET and returns the response with its body limited to
// MaxBytes (reading past it fails).
func (r *remoteFetcher) get(client *http.Client, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > r.opts.MaxBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%s is %d bytes, over the size limit of %d bytes", u.Redacted(), resp.ContentLength, r.opts.MaxBytes)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: r.opts.MaxBytes, what: u.Redacted()}
	if resp.StatusCode/100 == 2 {
		r.mu.Lock()
		r.fetched[u.String()] = true
		r.mu.Unlock()
	}
	return resp, nil
}

// handler is libopenapi's RemoteURLHandler, for $refs.
func (r *remoteFetcher) handler(raw string) (*http.Response, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := r.allowed(u); err != nil {
		return nil, err
	}
	return r.get(r.refs, u)
}

// fetchEntry reads the entry document with the caller's client as is (the
// caller chose the URL, redirects and all) and makes the final URL the
// origin for its $refs.
func (r *remoteFetcher) fetchEntry(raw string) ([]byte, *url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	resp, err := r.get(r.opts.HTTPClient, u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, nil, fmt.Errorf("GET %s: HTTP %s", u.Redacted(), resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.Request != nil && resp.Request.URL != nil {
		r.origin = resp.Request.URL
	}
	return data, r.origin, nil
}

func (r *remoteFetcher) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fetched)
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
	what string
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One more byte tells a body of exactly the cap from a longer one.
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%s is over the size limit", c.what)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

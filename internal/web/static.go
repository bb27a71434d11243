package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/go-chi/chi/v5"
)

// staticFiles are the embedded assets, each served under its content hash.
type staticFiles struct {
	fsys fs.FS
	hash map[string]string // name → short sha256
}

func newStatic(embedded fs.FS) (*staticFiles, error) {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		return nil, err
	}
	st := &staticFiles{fsys: sub, hash: map[string]string{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		st.hash[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read the embedded static files: %w", err)
	}
	return st, nil
}

// url is where name is served: its content hash in the path, so a new
// build's file is a new URL and the old one can be cached for a year.
func (st *staticFiles) url(name string) (string, error) {
	h, ok := st.hash[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q is embedded", name)
	}
	return "/static/" + h + "/" + name, nil
}

func (st *staticFiles) serve(w http.ResponseWriter, r *http.Request) {
	name, hash := chi.URLParam(r, "name"), chi.URLParam(r, "hash")
	want, ok := st.hash[name]
	if !ok || hash != want {
		// An old hash is a file this build no longer has: no long cache.
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(st.fsys, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

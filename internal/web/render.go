package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/governance"
)

// pageTemplate is the layout with one page's "content".
type pageTemplate struct{ t *template.Template }

// page is what every template gets.
type page struct {
	Title string
	Nav   string // which nav entry is current
	// Session is nil on the login and error pages of a signed-out visitor.
	Session *session
	CSRF    string
	Notice  string
	Error   string
	Now     time.Time
	Data    any
}

// Can lets templates show what the role allows.
func (p page) Can(a string) bool { return p.Session.can(governance.Action(a)) }

func parsePages(fsys fs.FS, st *staticFiles) (map[string]*pageTemplate, error) {
	funcs := template.FuncMap{
		"static":  st.url,
		"time":    fmtTime,
		"ago":     ago,
		"short":   shortDigest,
		"join":    strings.Join,
		"json":    compactJSON,
		"deref":   deref,
		"details": details,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse the layout: %w", err)
	}
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*pageTemplate{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		out[name] = &pageTemplate{t: t}
	}
	return out, nil
}

// render writes a page with status. Pages are rendered into a buffer first
// so a template error never leaves half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := h.pages[name]
	if !ok {
		h.log.ErrorContext(r.Context(), "dashboard: no template", "page", name)
		http.Error(w, "Spindle could not show this page; the server log has the details.", http.StatusInternalServerError)
		return
	}
	if p.Session == nil {
		p.Session = sessionFrom(r.Context())
	}
	if p.Session != nil {
		p.CSRF = h.auth.CSRFToken(p.Session.ID)
	}
	p.Now = h.now().UTC()
	var buf bytes.Buffer
	if err := t.t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(r.Context(), "dashboard: render", "page", name, "error", err)
		http.Error(w, "Spindle could not show this page; the server log has the details.", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show who holds what: never keep them in a shared or disk cache.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows an error page that says what to do.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

func fmtTime(v any) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return template.HTML(`<span class="muted">—</span>`)
		}
		t = *x
	default:
		return ""
	}
	if t.IsZero() {
		return template.HTML(`<span class="muted">—</span>`)
	}
	u := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s</time>`, u.Format(time.RFC3339), u.Format("2006-01-02 15:04 UTC")))
}

// ago is a rough age of t relative to now, for "last sync 5 min ago".
func ago(now time.Time, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// deref shows an optional field: its value, or "" when unset.
func deref(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		return rv.Elem().Interface()
	}
	return v
}

// details are an audit entry's details as sorted key/value lines.
func details(d map[string]any) []attribute {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]attribute, 0, len(keys))
	for _, k := range keys {
		v, ok := d[k].(string)
		if !ok {
			v = compactJSON(d[k])
		}
		out = append(out, attribute{Key: k, Value: v})
	}
	return out
}

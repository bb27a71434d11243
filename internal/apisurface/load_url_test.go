package apisurface

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer serves body at every path and counts the requests.
func countingServer(t *testing.T, body string) (string, func() int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, n.Load
}

func TestLoadURL(t *testing.T) {
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata/load")))
	defer srv.Close()

	fromFile, err := Load(context.Background(), "testdata/load/multi/openapi.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(context.Background(), srv.URL+"/multi/openapi.yaml", Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if s.Source.Files != 4 {
		t.Errorf("files = %d, want 4 (entry, the path item and two schemas)", s.Source.Files)
	}
	if s.Source.SHA256 != fromFile.Source.SHA256 || s.Source.Location != srv.URL+"/multi/openapi.yaml" {
		t.Errorf("source = %+v", s.Source)
	}
	if !reflect.DeepEqual(loaderView(s).Operations, loaderView(fromFile).Operations) {
		t.Errorf("operations from the URL differ from the file's\n url: %s\nfile: %s", mustJSON(s.Operations), mustJSON(fromFile.Operations))
	}
	if len(loaderView(s).Warnings) != 0 {
		t.Errorf("warnings: %s", mustJSON(s.Warnings))
	}
}

func TestLoadURLServersAndSwaggerHost(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v3.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("openapi: 3.0.3\ninfo: {title: rel, version: '1'}\nservers: [{url: /api/v1}, {url: 'https://{host}/x', variables: {host: {default: a.example}}}]\npaths: {}\n"))
	})
	mux.HandleFunc("/docs/v2.json", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"swagger": "2.0", "info": {"title": "nohost", "version": "1"}, "basePath": "/api", "paths": {}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, err := Load(context.Background(), srv.URL+"/v3.yaml", Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	want := []Server{{URL: srv.URL + "/api/v1"}, {URL: "https://{host}/x", Variables: []ServerVariable{{Name: "host", Default: "a.example"}}}}
	if !reflect.DeepEqual(s.Servers, want) {
		t.Errorf("servers = %s, want %s (relative URLs resolved against the document)", mustJSON(s.Servers), mustJSON(want))
	}
	s, err = Load(context.Background(), srv.URL+"/docs/v2.json", Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Server{{URL: srv.URL + "/api"}}; !reflect.DeepEqual(s.Servers, want) {
		t.Errorf("servers = %s, want %s (no host: the document's own)", mustJSON(s.Servers), mustJSON(want))
	}
}

// TestLoadURLRemoteRefsSameOrigin: remote $refs of a URL document reach
// only its own origin; a ref naming another host never reaches it.
func TestLoadURLRemoteRefsSameOrigin(t *testing.T) {
	other, otherHits := countingServer(t, "X: {type: object, properties: {stolen: {type: string}}}\n")
	doc := `openapi: 3.0.3
info: {title: remote, version: '1'}
paths:
  /a:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '` + other + `/x.yaml#/X'}
  /b:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: 'schemas.yaml#/B'}
  /c:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: 'moved.yaml#/X'}
`
	mux := http.NewServeMux()
	mux.HandleFunc("/api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(doc)) })
	mux.HandleFunc("/api/schemas.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("B: {type: object, properties: {id: {type: string}}}\n"))
	})
	mux.HandleFunc("/api/moved.yaml", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/x.yaml", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, err := Load(context.Background(), srv.URL+"/api/openapi.yaml", Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if n := otherHits(); n != 0 {
		t.Errorf("another origin was fetched %d times", n)
	}
	ops := loaderView(s).Operations
	if ops[0].Response != nil || ops[2].Response != nil {
		t.Errorf("/a, /c: responses %s, %s from another origin", mustJSON(ops[0].Response), mustJSON(ops[2].Response))
	}
	want := &Schema{Ref: "B", Type: "object", Properties: []Property{ldProp("id", ldStr())}}
	if !reflect.DeepEqual(ops[1].Response, want) {
		t.Errorf("/b: response %s, want %s", mustJSON(ops[1].Response), mustJSON(want))
	}
	if !hasWarning(s, "dangling-ref") {
		t.Errorf("no warning for the unreachable ref: %s", mustJSON(s.Warnings))
	}
}

func TestLoadURLErrors(t *testing.T) {
	big := strings.Repeat("#", 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("/big.yaml", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) })
	mux.HandleFunc("/chunked.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
		w.Write([]byte(big))
	})
	mux.HandleFunc("/gone.yaml", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/slow.yaml", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><h1>API</h1><p>GET /users lists users.</p></html>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tt := range []struct {
		path   string
		reason string
		is     error
	}{
		{"/big.yaml", "size limit", nil},
		{"/chunked.yaml", "size limit", nil},
		{"/gone.yaml", "404", nil},
		{"/slow.yaml", "deadline", context.DeadlineExceeded},
		{"/docs", "prose", ErrNotOpenAPI},
	} {
		t.Run(tt.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := Load(ctx, srv.URL+tt.path, Options{HTTPClient: srv.Client(), MaxBytes: 1024})
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.reason)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), srv.URL+tt.path) {
				t.Errorf("err = %v, want it to name the document", err)
			}
		})
	}
}

package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// The benchmark server pages `total` synthetic API keys with a body cursor,
// rendering each page on request (nothing cached, so a million records
// cost the server no memory either). Both clients read the same server.

const benchPageSize = 100

func benchServer(b *testing.B, total int) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = benchPageSize
		}
		buf := make([]byte, 0, 256*limit)
		buf = append(buf, `{"data":[`...)
		end := min(off+limit, total)
		for i := off; i < end; i++ {
			if i > off {
				buf = append(buf, ',')
			}
			buf = fmt.Appendf(buf, `{"id":"key_%08d","label":"deploy key %d","created_at":"2024-03-01T10:00:00Z","last_used_at":"2025-06-01T12:30:00Z","expires_at":null,"scopes":["read:repo","write:repo"],"owner_id":"usr_%05d","status":"active"}`, i, i, i%5000)
		}
		buf = append(buf, `],"meta":{"next_cursor":`...)
		if end < total {
			buf = strconv.AppendQuote(buf, strconv.Itoa(end))
		} else {
			buf = append(buf, "null"...)
		}
		buf = append(buf, "}}"...)
		w.Header().Set("Content-Type", "application/json")
		w.Write(buf)
	}))
	b.Cleanup(srv.Close)
	return srv
}

const benchSpec = `apiVersion: spindle/v1
kind: Integration
metadata: {name: bench}
connection:
  base_url: https://api.example.com
  auth: {type: none}
streams:
  - name: keys
    request: {path: /keys}
    records: data
    pagination: {type: cursor, cursor_path: meta.next_cursor, cursor_param: cursor, size_param: limit, page_size: 100}
    emits: api_key
    map:
      external_id: r.id
      name: r.label
      status: r.status
      created_at: r.created_at
      last_used_at: r.last_used_at
      expires_at: r.expires_at
      scopes: r.scopes
      owner: r.owner_id
`

// countSink counts records and drops them, as a store would after writing.
type countSink struct{ n atomic.Int64 }

func (c *countSink) Put(context.Context, string, *nhi.Record) error      { c.n.Add(1); return nil }
func (c *countSink) EndStream(context.Context, store.StreamResult) error { return nil }

func runtimeFetch(b *testing.B, base string) int64 {
	doc, err := integration.Load("bench.yaml", []byte(benchSpec))
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(context.Background(), doc.Spec, Options{BaseURL: base})
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{}
	rep, err := r.Run(context.Background(), sink)
	if err != nil || rep.Status != "ok" {
		b.Fatalf("run: %v %+v", err, rep)
	}
	return sink.n.Load()
}

// handwritten is what an engineer would write for this one API: typed
// structs, encoding/json, the same cursor loop, the same canonical output.
func handwritten(b *testing.B, base string) int64 {
	type key struct {
		ID         string     `json:"id"`
		Label      string     `json:"label"`
		CreatedAt  time.Time  `json:"created_at"`
		LastUsedAt *time.Time `json:"last_used_at"`
		ExpiresAt  *time.Time `json:"expires_at"`
		Scopes     []string   `json:"scopes"`
		OwnerID    *string    `json:"owner_id"`
		Status     string     `json:"status"`
	}
	type pageT struct {
		Data []key `json:"data"`
		Meta struct {
			NextCursor *string `json:"next_cursor"`
		} `json:"meta"`
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	sink := &countSink{}
	cursor := ""
	for {
		u := base + "/keys?limit=" + strconv.Itoa(benchPageSize)
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		var p pageT
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("page: %v %d", err, resp.StatusCode)
		}
		for _, k := range p.Data {
			rec := &nhi.Record{ID: nhi.StableID("bench", nhi.APIKey, k.ID), Source: "bench", Kind: nhi.APIKey, ExternalID: k.ID,
				Name: &k.Label, CreatedAt: &k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, Scopes: k.Scopes}
			st := nhi.Status(k.Status)
			rec.Status = &st
			if k.OwnerID != nil {
				o := nhi.NewRef("bench", nhi.HumanUser, *k.OwnerID)
				rec.Owner = &o
				rec.Relationships = []nhi.Relationship{{Type: nhi.OwnedBy, Target: o}}
			}
			_ = sink.Put(context.Background(), "keys", rec)
		}
		if p.Meta.NextCursor == nil {
			return sink.n.Load()
		}
		cursor = *p.Meta.NextCursor
	}
}

// BenchmarkFetch100k compares the runtime with the hand-written client on
// 100,000 records in pages of 100. Compare the records/s metrics.
func BenchmarkFetch100k(b *testing.B) {
	const total = 100_000
	srv := benchServer(b, total)
	for _, c := range []struct {
		name string
		fn   func(*testing.B, string) int64
	}{{"handwritten", handwritten}, {"runtime", runtimeFetch}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for i := 0; i < b.N; i++ {
				if got := c.fn(b, srv.URL); got != total {
					b.Fatalf("fetched %d records, want %d", got, total)
				}
				n += total
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkStream1M streams a million records through the runtime and
// reports the peak live heap, sampled every 5 ms: it must not grow with
// the record count.
func BenchmarkStream1M(b *testing.B) {
	const total = 1_000_000
	srv := benchServer(b, total)
	for i := 0; i < b.N; i++ {
		goruntime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms goruntime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				goruntime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		start := time.Now()
		if got := runtimeFetch(b, srv.URL); got != total {
			b.Fatalf("fetched %d, want %d", got, total)
		}
		el := time.Since(start)
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(total)/el.Seconds(), "records/s")
	}
}

package postgres

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/store"
)

// BenchmarkPut is the SQLite store's BenchmarkPut on PostgreSQL: batches of
// records through one sync run each (Put, EndStream complete, Commit),
// reporting records/s. "insert" puts new records every run, "update" the
// same records again, as a steady-state daily sync does. Set
// SPINDLE_BENCH_1M=1 to add a batch of a million.
func BenchmarkPut(b *testing.B) {
	batches := []int{1_000, 100_000}
	if os.Getenv("SPINDLE_BENCH_1M") != "" {
		batches = append(batches, 1_000_000)
	}
	for _, mode := range []string{"insert", "update"} {
		for _, n := range batches {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, n), func(b *testing.B) {
				st := openFresh(b)
				ctx := context.Background()
				when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				if mode == "update" {
					runBatch(b, ctx, st, "acme", when, 0, n)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					when = when.Add(time.Hour)
					offset := 0
					if mode == "insert" {
						offset = i * n
					}
					runBatch(b, ctx, st, "acme", when, offset, n)
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*n)/sec, "records/s")
				b.ReportMetric(sec*1e9/float64(b.N*n), "ns/record")
			})
		}
	}
}

// BenchmarkParallelSources runs one sync of each of several sources at
// once, as the workers of a scale-out do: runs of different sources do
// not wait for each other, so throughput should grow with them.
func BenchmarkParallelSources(b *testing.B) {
	const n = 20_000
	for _, sources := range []int{1, 4} {
		b.Run(fmt.Sprintf("sources=%d/batch=%d", sources, n), func(b *testing.B) {
			st := openFresh(b)
			ctx := context.Background()
			when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				when = when.Add(time.Hour)
				var wg sync.WaitGroup
				for j := range sources {
					wg.Add(1)
					go func() {
						defer wg.Done()
						runBatch(b, ctx, st, fmt.Sprintf("src-%d", j), when, 0, n)
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.N*n*sources)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func runBatch(b *testing.B, ctx context.Context, st *Store, source string, when time.Time, offset, n int) {
	s, err := st.BeginSync(ctx, source, "sha256:bench", when)
	if err != nil {
		b.Error(err)
		return
	}
	defer s.Rollback()
	for i := offset; i < offset+n; i++ {
		if err := s.Put(ctx, "keys", testRecord(source, i)); err != nil {
			b.Error(err)
			return
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: n}); err != nil {
		b.Error(err)
		return
	}
	if _, err := s.Commit(ctx, when.Add(time.Minute)); err != nil {
		b.Error(err)
	}
}

package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/store"
)

// BenchmarkPut streams batches of records through one sync run each (Put,
// then EndStream complete, which marks the absent gone, then Commit), and
// reports records/s. "insert" puts new records every run, "update" puts the
// same records again, as a steady-state daily sync does. Set
// SPINDLE_BENCH_1M=1 to add a batch of a million. Building each record
// (testRecord) is inside the timing; it is a small part of it.
func BenchmarkPut(b *testing.B) {
	batches := []int{1_000, 100_000}
	if os.Getenv("SPINDLE_BENCH_1M") != "" {
		batches = append(batches, 1_000_000)
	}
	for _, mode := range []string{"insert", "update"} {
		for _, n := range batches {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, n), func(b *testing.B) {
				st := openTemp(b)
				ctx := context.Background()
				when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				if mode == "update" {
					runBatch(b, ctx, st, when, 0, n)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					when = when.Add(time.Hour)
					offset := 0
					if mode == "insert" {
						offset = i * n
					}
					runBatch(b, ctx, st, when, offset, n)
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*n)/sec, "records/s")
				b.ReportMetric(sec*1e9/float64(b.N*n), "ns/record")
			})
		}
	}
}

func runBatch(b *testing.B, ctx context.Context, st *Store, when time.Time, offset, n int) {
	s, err := st.BeginSync(ctx, "acme", "sha256:bench", when)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Rollback()
	for i := offset; i < offset+n; i++ {
		if err := s.Put(ctx, "keys", testRecord("acme", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: n}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Commit(ctx, when.Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
}

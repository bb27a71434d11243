package sqlite

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestSizeProbe(t *testing.T) {
	dir := t.TempDir()
	st := openAt(t, filepath.Join(dir, "x.db"))
	for _, name := range []string{"insert", "update", "update"} {
		start, c := time.Now(), cpu()
		runBatchT(t, st, 100000)
		t.Logf("%s 100k in %s cpu %s", name, time.Since(start).Round(time.Millisecond), (cpu() - c).Round(time.Millisecond))
	}
}

func runBatchT(t *testing.T, st *Store, n int) {
	ctx := context.Background()
	s, _ := st.BeginSync(ctx, "acme", "", time.Now())
	for i := 0; i < n; i++ { if err := s.Put(ctx, "keys", testRecord("acme", i)); err != nil { t.Fatal(err) } }
	if _, err := s.Commit(ctx, time.Now()); err != nil { t.Fatal(err) }
}

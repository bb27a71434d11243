//go:build scaleout

// The scale-out proof of issue 6 and its benchmark: worker processes (the
// real binary) sharing one PostgreSQL database sync many integrations
// against loopback sandboxes. Heavy, so it has its own step in .ci/run:
//
//	go test -tags scaleout -count=1 -run TestScaleOut ./cmd/spindle
//	go test -tags scaleout -run '^$' -bench ScaleOut -benchtime 1x ./cmd/spindle
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
)

// TestScaleOut: 3 worker processes on one PostgreSQL run 50 integrations
// against sandboxes; one worker is SIGKILLed while it syncs. Every sync job
// completes, each integration has exactly one committed production run
// (the killed attempt's transaction died with its connection), no entity
// row is duplicated, the killed jobs were retried by another worker, and
// the audit chain that three processes appended to still verifies.
func TestScaleOut(t *testing.T) {
	r := scaleOut(t, scaleConfig{integrations: 50, workers: 3, concurrency: 2, kill: true, delay: 50 * time.Millisecond})
	ctx := context.Background()
	db := r.conn(t)

	// Every sync job completed exactly once in effect.
	var completed, other int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state <> 'completed') FROM river_job WHERE kind = 'sync'`).Scan(&completed, &other); err != nil {
		t.Fatal(err)
	}
	if completed != r.cfg.integrations || other != 0 {
		t.Fatalf("sync jobs: %d completed, %d in another state; want %d completed", completed, other, r.cfg.integrations)
	}
	rows, err := db.Query(ctx, `SELECT source, count(*), count(*) FILTER (WHERE status = 'ok') FROM sync_runs GROUP BY source`)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string][2]int{}
	for rows.Next() {
		var src string
		var n, ok int
		if err := rows.Scan(&src, &n, &ok); err != nil {
			t.Fatal(err)
		}
		runs[src] = [2]int{n, ok}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range r.names {
		if got := runs[name]; got != [2]int{1, 1} {
			t.Errorf("%s: %d committed runs (%d ok), want exactly 1 ok: a lost or a doubled sync", name, got[0], got[1])
		}
	}
	if len(runs) != len(r.names) {
		t.Errorf("runs of %d sources, want %d", len(runs), len(r.names))
	}

	// No duplicate inventory rows, and every integration holds the same
	// inventory (the sandboxes serve the same synthetic data).
	var dups int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM entities GROUP BY source, kind, external_id HAVING count(*) > 1) d`).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d duplicated entities", dups)
	}
	counts := map[int][]string{}
	crow, err := db.Query(ctx, `SELECT source, count(*) FROM entities WHERE presence = 'present' GROUP BY source`)
	if err != nil {
		t.Fatal(err)
	}
	for crow.Next() {
		var src string
		var n int
		if err := crow.Scan(&src, &n); err != nil {
			t.Fatal(err)
		}
		counts[n] = append(counts[n], src)
	}
	if len(counts) != 1 {
		t.Errorf("integrations hold different inventories (count → sources): %v", counts)
	}
	for n, srcs := range counts {
		if n == 0 || len(srcs) != r.cfg.integrations {
			t.Errorf("%d sources with %d entities each; want %d with more than 0", len(srcs), n, r.cfg.integrations)
		}
	}

	// The killed worker's jobs: retried elsewhere, and their first attempt
	// started a sync (audited) that never finished.
	if len(r.killed) == 0 {
		t.Fatal("no job was running on the killed worker")
	}
	for id, name := range r.killed {
		var attempt int
		var state string
		var by []string
		if err := db.QueryRow(ctx, `SELECT attempt, state, attempted_by FROM river_job WHERE id = $1`, id).Scan(&attempt, &state, &by); err != nil {
			t.Fatal(err)
		}
		if attempt < 2 || state != "completed" || len(by) < 2 || by[len(by)-1] == by[0] {
			t.Errorf("killed job %d (%s): attempt %d, state %s, attempted by %v; want retried on another worker and completed", id, name, attempt, state, by)
		}
		var starts, finishes int
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'sync.start'), count(*) FILTER (WHERE action = 'sync.finish') FROM audit_log WHERE object = $1`, "integration:"+name).Scan(&starts, &finishes); err != nil {
			t.Fatal(err)
		}
		switch {
		case name == r.target && (starts != 2 || finishes != 1):
			t.Errorf("%s: audit has %d sync.start and %d sync.finish; want 2 and 1 (the killed attempt started and never finished)", name, starts, finishes)
		case finishes != 1 || starts < 1 || starts > 2:
			t.Errorf("%s (also running on the killed worker): audit has %d sync.start and %d sync.finish; want 1 finish", name, starts, finishes)
		}
	}
	r.cli(t, 0, "audit", "verify")
	t.Logf("%d syncs by %d workers in %s (%.0f syncs/min), %d job(s) killed mid-sync and retried",
		r.cfg.integrations, r.cfg.workers, r.elapsed.Round(time.Millisecond), r.syncsPerMinute(), len(r.killed))
}

// BenchmarkScaleOut: syncs per minute with 1 and with 3 worker processes
// (each working 2 syncs at a time) against sandboxes that answer every
// request after 20 ms — the latency-bound shape of a real vendor API.
func BenchmarkScaleOut(b *testing.B) {
	for _, workers := range []int{1, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				r := scaleOut(b, scaleConfig{integrations: 50, workers: workers, concurrency: 2, delay: 20 * time.Millisecond})
				b.ReportMetric(r.syncsPerMinute(), "syncs/min")
			}
		})
	}
}

type scaleConfig struct {
	integrations, workers, concurrency int
	// kill SIGKILLs the first worker seen inside a sync: its job running
	// and the run started (audited sync.start) but not finished.
	kill bool
	// delay is the stand-ins' latency on every request.
	delay time.Duration
}

type scaleRun struct {
	cfg     scaleConfig
	pg, dir string
	bin     string
	names   []string
	killed  map[int64]string // job id → integration, of the killed worker's running syncs
	target  string           // the integration whose run was under way when the worker died
	elapsed time.Duration    // first sync job enqueued → last one finished
}

func (r *scaleRun) syncsPerMinute() float64 {
	return float64(r.cfg.integrations) / r.elapsed.Minutes()
}

func (r *scaleRun) conn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), r.pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// cli runs a spindle command in-process against the shared database.
func (r *scaleRun) cli(t testing.TB, want int, args ...string) cliResult {
	t.Helper()
	return r.cliIn(t, want, "", args...)
}

func (r *scaleRun) cliIn(t testing.TB, want int, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb strings.Builder
	args = append(args, "--postgres", r.pg, "--db", filepath.Join(r.dir, "spindle.db"))
	code := execute(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	res := cliResult{code: code, stdout: out.String(), stderr: errb.String()}
	if code != want {
		t.Fatalf("spindle %s: want exit %d, got %s", strings.Join(args[:len(args)-4], " "), want, res)
	}
	return res
}

func scaleOut(t testing.TB, cfg scaleConfig) *scaleRun {
	r := &scaleRun{cfg: cfg, pg: pgtest.URL(t), dir: t.TempDir(), killed: map[int64]string{}}
	ctx := context.Background()

	r.bin = filepath.Join(r.dir, "spindle")
	if out, err := exec.Command("go", "build", "-o", r.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// Five vendor stand-ins, each shared by a fifth of the integrations.
	surf, err := apisurface.Load(ctx, exampleDoc, apisurface.Options{})
	if err != nil {
		t.Fatal(err)
	}
	faults, err := sandbox.ParseFaults("slow:" + cfg.delay.String())
	if err != nil {
		t.Fatal(err)
	}
	type standIn struct{ url, host, token string }
	var sbs []standIn
	for range 5 {
		sb, err := sandbox.New(surf, sandbox.Options{Seed: 3, Faults: faults})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := sb.Start(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		sbs = append(sbs, standIn{srv.URL(), strings.TrimPrefix(srv.Origin(), "http://"), srv.Credentials()[0].Value})
	}

	keys := filepath.Join(r.dir, "keys")
	r.cli(t, 0, "role", "grant", "root", "admin")
	for _, p := range [][2]string{{"alice", "approver"}, {"bob", "approver"}, {"olivia", "operator"}} {
		r.cli(t, 0, "role", "grant", p[0], p[1], "--as", "root")
	}
	r.cli(t, 0, "keys", "create", "alice", "--key-dir", keys)
	r.cli(t, 0, "keys", "create", "bob", "--key-dir", keys)

	// One vendor doc per integration (the example under another title, so
	// another name), each built by the agent: real, separate integrations.
	src, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	bundles := make([]string, cfg.integrations)
	r.names = make([]string, cfg.integrations)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, cfg.integrations)
	for i := range cfg.integrations {
		doc := filepath.Join(r.dir, fmt.Sprintf("vendor-%02d.yaml", i))
		body := strings.Replace(string(src), "title: Acme Cloud API", fmt.Sprintf("title: Acme Cloud %02d API", i), 1)
		if err := os.WriteFile(doc, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		bundles[i], r.names[i] = filepath.Join(r.dir, fmt.Sprintf("bundle-%02d", i)), fmt.Sprintf("acme-cloud-%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := exec.Command(r.bin, "build", doc, "--out", bundles[i], "--owner", "identity-team@example.com",
				"--postgres", r.pg, "--db", filepath.Join(r.dir, "spindle.db")).CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("build %s: %v\n%s", doc, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, name := range r.names {
		var p struct {
			ID int64 `json:"id"`
		}
		out := r.cli(t, 0, "propose", bundles[i], "--json")
		if err := json.Unmarshal([]byte(out.stdout), &p); err != nil || p.ID == 0 {
			t.Fatalf("propose %s: %v: %s", name, err, out.stdout)
		}
		id := fmt.Sprint(p.ID)
		r.cli(t, 0, "approve", id, "--as", "alice", "--key-dir", keys)
		r.cli(t, 0, "approve", id, "--as", "bob", "--key-dir", keys)
		sb := sbs[i%len(sbs)]
		r.cliIn(t, 0, sb.token+"\n", "credential", "set", name+"-credential", "--integration", name, "--host", sb.host, "--as", "olivia")
		r.cli(t, 0, "terms", "accept", name, "--as", "olivia")
		// Due at the first tick; the next run a day later, after the test.
		r.cli(t, 0, "schedule", "set", name, "--every", "24h", "--base-url", sb.url, "--as", "olivia")
	}

	// The workers: separate processes, as on separate machines.
	type worker struct {
		cmd *exec.Cmd
		log string
	}
	workers := make([]*worker, cfg.workers)
	for i := range workers {
		w := &worker{log: filepath.Join(r.dir, fmt.Sprintf("worker-%d.log", i))}
		f, err := os.Create(w.log)
		if err != nil {
			t.Fatal(err)
		}
		w.cmd = exec.Command(r.bin, "worker", "--postgres", r.pg, "--db", filepath.Join(r.dir, "spindle.db"),
			"--queues", "scheduler,sync", "--concurrency", fmt.Sprint(cfg.concurrency), "--tick", "1s",
			"--job-timeout", "20s", "--rescue-after", "25s", "--grace", "5s", "--json")
		w.cmd.Stderr, w.cmd.Stdout = f, f
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		workers[i] = w
		t.Cleanup(func() {
			w.cmd.Process.Signal(syscall.SIGTERM)
			w.cmd.Wait()
			f.Close()
			if t.Failed() {
				if b, err := os.ReadFile(w.log); err == nil {
					t.Logf("worker %d log (last 3000 bytes):\n%s", i, tail(b, 3000))
				}
			}
		})
	}

	db := r.conn(t)
	deadline := time.Now().Add(10 * time.Minute) // a hang guard, not a performance bound
	for {
		var ok bool
		if err := db.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker migrated River's schema")
		}
		time.Sleep(100 * time.Millisecond)
	}
	killedOne := !cfg.kill
	for {
		if time.Now().After(deadline) {
			t.Fatal("the sync jobs did not all complete within 10 minutes")
		}
		if !killedOne {
		workers:
			for i, w := range workers {
				for _, id := range syncStarts(w.log) {
					var state, name string
					var by []string
					if err := db.QueryRow(ctx, `SELECT state, attempted_by, args->>'integration' FROM river_job WHERE id = $1`, id).Scan(&state, &by, &name); err != nil {
						t.Fatal(err)
					}
					if state != "running" {
						continue
					}
					// Inside the run: started (audited), not finished.
					var starts, finishes int
					if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'sync.start'), count(*) FILTER (WHERE action = 'sync.finish') FROM audit_log WHERE object = $1`, "integration:"+name).Scan(&starts, &finishes); err != nil {
						t.Fatal(err)
					}
					if starts != 1 || finishes != 0 {
						continue
					}
					if err := w.cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					w.cmd.Wait()
					// Every sync that worker was running when it died.
					rows, err := db.Query(ctx, `SELECT id, args->>'integration' FROM river_job WHERE kind = 'sync' AND state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, by[len(by)-1])
					if err != nil {
						t.Fatal(err)
					}
					for rows.Next() {
						var jid int64
						var name string
						if err := rows.Scan(&jid, &name); err != nil {
							t.Fatal(err)
						}
						r.killed[jid] = name
					}
					rows.Close()
					r.target = name
					t.Logf("killed worker %d (pid %d) while it ran %d sync(s)", i, w.cmd.Process.Pid, len(r.killed))
					killedOne = true
					break workers
				}
			}
		}
		var done int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'sync' AND state = 'completed'`).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done == cfg.integrations {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var first, last time.Time
	if err := db.QueryRow(ctx, `SELECT min(created_at), max(finalized_at) FROM river_job WHERE kind = 'sync'`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	r.elapsed = last.Sub(first)
	return r
}

// syncStarts are the job ids of the syncs a worker's JSON log says it
// started, newest first.
func syncStarts(path string) []int64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ids []int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg   string `json:"msg"`
			Kind  string `json:"kind"`
			JobID int64  `json:"job_id"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "job start" && l.Kind == "sync" {
			ids = append([]int64{l.JobID}, ids...)
		}
	}
	return ids
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

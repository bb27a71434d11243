package apisurface

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
)

// The load benchmarks: the libopenapi baseline (parse and build the
// model, nothing else) against Load (which adds the surface and Infer),
// per corpus document. Each reports ms/op and the peak RSS of one load
// in a fresh child process, so that one measurement does not inherit the
// heap of another.
//
//	go test ./internal/apisurface -run '^$' -bench 'RawLoad|Surface' -benchtime 5x
//
// Targets (issue 3): under 3 s and 500 MiB per document, Load at most
// 1.5× the raw load. Nothing here asserts times: the machine is shared.

var benchDocs = []struct{ name, rel string }{
	{"okta", "okta/management.2025.01.1.yaml"},
	{"pagerduty", "pagerduty/openapiv3.2025-03-24.json"},
	{"digitalocean", "digitalocean/2024-03-18/specification/DigitalOcean-public.v2.yaml"},
}

// rssChildEnv names the document and mode for TestRSSChild.
const rssChildEnv = "SPINDLE_RSS_CHILD"

// rawLoad is the baseline: what a plain libopenapi user does to get a
// model, with file references resolved next to the document.
func rawLoad(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	cfg := datamodel.NewDocumentConfiguration()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.BasePath = filepath.Dir(abs)
	cfg.SpecFilePath = abs
	cfg.AllowFileReferences = true
	doc, err := libopenapi.NewDocumentWithConfiguration(data, cfg)
	if err != nil {
		return err
	}
	m, err := doc.BuildV3Model()
	if m == nil {
		return err
	}
	return nil
}

func benchLoad(b *testing.B, mode string) {
	if _, err := os.Stat(corpusDir); err != nil {
		b.Skipf("corpus directory %s is absent (%v)", corpusDir, err)
	}
	for _, d := range benchDocs {
		b.Run(d.name, func(b *testing.B) {
			path := filepath.Join(corpusDir, d.rel)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if mode == "raw" {
					err = rawLoad(path)
				} else {
					_, err = Load(context.Background(), path, Options{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			rss, cpu := childLoad(b, mode, path)
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.ReportMetric(cpu, "child-cpu-ms")
		})
	}
}

func BenchmarkRawLoad(b *testing.B) { benchLoad(b, "raw") }
func BenchmarkSurface(b *testing.B) { benchLoad(b, "surface") }

// childLoad runs one load in a fresh process and returns its peak
// resident set size in MiB and the CPU time (user and system, all
// threads) the load itself used in milliseconds: on a shared machine CPU
// time compares the two loads more steadily than wall time does.
//
// Two levels, because Go starts children with vfork: a child's ru_maxrss
// starts at its parent's high-water mark, so a benchmark process that has
// already loaded documents would inflate every figure. The first child
// (small: it loads nothing) starts the second, which loads, and reports
// that grandchild's rusage.
func childLoad(b *testing.B, mode, path string) (rssMiB, cpuMs float64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rssChildEnv+"=measure:"+mode+":"+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("RSS child: %v\n%s", err, out)
	}
	rss := regexp.MustCompile(`peak-rss-kib=(\d+)`).FindSubmatch(out)
	cpu := regexp.MustCompile(`load-cpu-us=(\d+)`).FindSubmatch(out)
	if rss == nil || cpu == nil {
		b.Fatalf("RSS child reported nothing:\n%s", out)
	}
	kib, _ := strconv.ParseFloat(string(rss[1]), 64)
	us, _ := strconv.ParseFloat(string(cpu[1]), 64)
	return kib / 1024, us / 1000
}

// TestRSSChild is the child process of the benchmarks. With
// "measure:MODE:PATH" it runs itself with "load:MODE:PATH" and prints that
// process's peak RSS; with "load:…" it loads the document once. It does
// nothing in a normal test run.
func TestRSSChild(t *testing.T) {
	spec := os.Getenv(rssChildEnv)
	if spec == "" {
		t.Skip("run by the load benchmarks as a child process")
	}
	step, rest, _ := strings.Cut(spec, ":")
	mode, path, _ := strings.Cut(rest, ":")
	switch step {
	case "measure":
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"=load:"+mode+":"+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("load child: %v\n%s", err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			t.Skip("no rusage on this platform")
		}
		fmt.Printf("%speak-rss-kib=%d\n", out, ru.Maxrss) // Linux reports KiB
	case "load":
		before := cpuTime(t)
		var err error
		if mode == "raw" {
			err = rawLoad(path)
		} else {
			_, err = Load(context.Background(), path, Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("load-cpu-us=%d\n", (cpuTime(t) - before).Microseconds())
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

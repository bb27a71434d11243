package sandbox

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/runtime"
)

// recordingListener accepts on loopback and counts every connection, so a
// test can prove a refused request never connected.
type recordingListener struct {
	net.Listener
	accepts atomic.Int64
}

func newRecordingListener(t *testing.T) *recordingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rl.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return rl
}

func (rl *recordingListener) addr() netip.AddrPort {
	return rl.Listener.Addr().(*net.TCPAddr).AddrPort()
}

func TestCheckEgressRefusesEverythingButTheSandbox(t *testing.T) {
	allowed := netip.MustParseAddrPort("127.0.0.1:41000")
	if _, err := checkEgress(allowed, "tcp", "127.0.0.1:41000"); err != nil {
		t.Fatalf("the sandbox itself is refused: %v", err)
	}
	if _, err := checkEgress(allowed, "tcp4", "[::ffff:127.0.0.1]:41000"); err != nil {
		t.Errorf("the sandbox as a v4-mapped address is refused: %v", err)
	}
	for _, tc := range []struct{ network, addr, class string }{
		{"tcp", "127.0.0.1:41001", "another loopback"},
		{"tcp", "127.0.0.2:41000", "another loopback"},
		{"tcp", "[::1]:41000", "another loopback"},
		{"tcp", "169.254.169.254:80", "cloud metadata"},
		{"tcp", "[fd00:ec2::254]:80", "cloud metadata"},
		{"tcp", "169.254.10.1:80", "link-local"},
		{"tcp", "[fe80::1]:80", "link-local"},
		{"tcp", "[fe80::1%eth0]:80", "link-local"},
		{"tcp", "10.0.0.1:443", "private"},
		{"tcp", "172.16.5.4:443", "private"},
		{"tcp", "192.168.1.1:443", "private"},
		{"tcp", "[fd12:3456::1]:443", "private"},
		{"tcp", "100.64.0.1:443", "private"},
		{"tcp", "8.8.8.8:443", "public"},
		{"tcp", "[2606:4700::1111]:443", "public"},
		{"tcp", "0.0.0.0:41000", "unspecified"},
		{"tcp", "localhost:41000", "DNS name"},
		{"tcp", "sandbox.internal:41000", "DNS name"},
		{"tcp", "api.vendor.example:443", "DNS name"},
		{"udp", "127.0.0.1:41000", "not TCP"},
	} {
		_, err := checkEgress(allowed, tc.network, tc.addr)
		var pe *runtime.PolicyError
		if !errors.As(err, &pe) || pe.Rule != RuleEgressSandbox || pe.Host != tc.addr || !strings.Contains(pe.Reason, tc.class) {
			t.Errorf("%s %s: %v, want a %s policy error naming %q", tc.network, tc.addr, err, RuleEgressSandbox, tc.class)
		}
	}
	if _, err := checkEgress(netip.AddrPort{}, "tcp", "127.0.0.1:41000"); err == nil {
		t.Error("a zero allowed address admits something")
	}
}

// Through a real transport: the sandbox is reachable; another loopback
// listener, by address or by name, is refused before any connection; no
// proxy from the environment is used.
func TestEgressTransport(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{})
	srv, err := sb.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other := newRecordingListener(t)
	t.Setenv("HTTP_PROXY", "http://"+other.addr().String())
	t.Setenv("http_proxy", "http://"+other.addr().String())
	client := &http.Client{Transport: srv.Transport(), Timeout: 5 * time.Second}

	req, _ := http.NewRequest("GET", srv.URL()+"/me", nil)
	cred(t, sb, "api_key").Apply(req)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("the sandbox is unreachable through its own egress guard: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("sandbox: %d", resp.StatusCode)
	}
	port := other.addr().Port()
	for _, target := range []string{
		"http://" + other.addr().String() + "/",
		"http://localhost:" + itoa(int(port)) + "/",
		"https://" + other.addr().String() + "/",
		"http://169.254.169.254/latest/meta-data/",
	} {
		_, err := client.Get(target)
		var pe *runtime.PolicyError
		if !errors.As(err, &pe) || pe.Rule != RuleEgressSandbox {
			t.Errorf("GET %s: %v, want a %s policy error", target, err, RuleEgressSandbox)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := other.accepts.Load(); n != 0 {
		t.Errorf("the other listener accepted %d connections", n)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{})
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "localhost:0", "192.168.1.10:0", "example.com:80", "127.0.0.1"} {
		if srv, err := sb.Start(t.Context(), addr); err == nil {
			srv.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
	srv, err := sb.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !srv.Addr().Addr().IsLoopback() || !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || !strings.HasSuffix(srv.URL(), "/api/v1") {
		t.Errorf("listening on %s, URL %s", srv.Addr(), srv.URL())
	}
}

// The server stops with its context.
func TestServerStopsWithContext(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{})
	ctx, cancel := contextWithCancel(t)
	srv, err := sb.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop with its context")
	}
	if _, err := http.Get(srv.Origin() + "/"); err == nil {
		t.Error("server still answers after its context ended")
	}
}

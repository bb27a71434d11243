package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Server is a sandbox listening on loopback.
type Server struct {
	sb     *Sandbox
	srv    *http.Server
	addr   netip.AddrPort
	origin string // http://127.0.0.1:port
	once   sync.Once
	done   chan struct{}
}

// DefaultAddr is where Start listens when addr is "".
const DefaultAddr = "127.0.0.1:0"

// Start serves the sandbox on addr, which must be a loopback IP literal
// with a port (port 0 picks a free one): the sandbox is for this machine
// only. A name such as "localhost" is refused too, since what it resolves
// to is not ours to trust. The server stops when ctx ends or on Close.
func (sb *Sandbox) Start(ctx context.Context, addr string) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if err := CheckListenAddr(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("sandbox: listener address %s is not TCP", ln.Addr())
	}
	ap := tcp.AddrPort()
	s := &Server{
		sb:   sb,
		addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
		srv:  &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	s.origin = "http://" + s.addr.String()
	go func() { _ = s.srv.Serve(ln) }() // ends with ErrServerClosed on Close
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// CheckListenAddr refuses any listen address but a loopback IP literal
// with a port, as Start does; callers use it to fail fast.
func CheckListenAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen address %q: want IP:PORT such as 127.0.0.1:0", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("sandbox: listen address %q: want a loopback IP literal (127.0.0.1 or ::1), not a name", addr)
	}
	if !ip.Unmap().IsLoopback() {
		return fmt.Errorf("sandbox: listen address %q is not loopback; the sandbox listens on 127.0.0.0/8 or ::1 only", addr)
	}
	return nil
}

// URL is the base URL integrations use: the listener's origin and the
// doc's base path.
func (s *Server) URL() string { return s.origin + s.sb.basePath }

// Origin is the listener's origin, http://IP:PORT.
func (s *Server) Origin() string { return s.origin }

// Addr is the listener's exact address, what EgressTransport allows.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Transport is an egress-guarded transport that reaches this server only.
func (s *Server) Transport() *http.Transport { return EgressTransport(s.addr) }

// Sandbox is the sandbox this server serves.
func (s *Server) Sandbox() *Sandbox { return s.sb }

// Credentials are the synthetic credentials, token URLs made absolute.
func (s *Server) Credentials() []Credential {
	cs := s.sb.Credentials()
	for i := range cs {
		if strings.HasPrefix(cs[i].TokenURL, "/") {
			cs[i].TokenURL = s.origin + cs[i].TokenURL
		}
	}
	return cs
}

// Truth returns a copy of the ground truth.
func (s *Server) Truth() Truth { return s.sb.Truth() }

// RequestLog returns a copy of the request log.
func (s *Server) RequestLog() []LogEntry { return s.sb.RequestLog() }

// Shutdown stops accepting requests and waits, until ctx ends, for the
// ones in flight to finish, so their log entries are in: a client has its
// whole response before the handler has logged it.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close() // the wait ran out: drop what is left
	}
	s.once.Do(func() { close(s.done) })
	return err
}

// Close stops the server at once, closing open connections.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.srv.Close()
		close(s.done)
	})
	return err
}

// Done is closed once the server is closed (by Close or its ctx).
func (s *Server) Done() <-chan struct{} { return s.done }

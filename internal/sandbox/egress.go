package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/spindlehq/spindle/internal/runtime"
)

// RuleEgressSandbox is the PolicyError rule of the sandbox dialer.
const RuleEgressSandbox = "egress.sandbox"

// EgressTransport returns a transport that can reach exactly one address:
// allowed, the sandbox listener's IP and port. Every other dial — another
// loopback port, link-local and cloud metadata addresses, private ranges,
// public addresses, and any DNS name, "localhost" included — is refused
// before a socket is opened (names before they are resolved), with a
// *runtime.PolicyError the runtime reports as a policy violation and never
// retries. It uses no proxy. A zero allowed refuses everything.
//
// This is the address-level boundary under the runtime's host guard (which
// checks names): while an integration is built or repaired, nothing but the
// sandbox is reachable, whatever its spec or a redirect says.
func EgressTransport(allowed netip.AddrPort) *http.Transport {
	allowed = netip.AddrPortFrom(allowed.Addr().Unmap(), allowed.Port())
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil, // a proxy would be a second destination
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := checkEgress(allowed, network, addr)
			if err != nil {
				return nil, err
			}
			// Dial the checked literal, never a re-resolved name.
			return d.DialContext(ctx, network, ap.String())
		},
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// checkEgress admits network/addr only when it is exactly allowed.
func checkEgress(allowed netip.AddrPort, network, addr string) (netip.AddrPort, error) {
	refuse := func(reason string) (netip.AddrPort, error) {
		return netip.AddrPort{}, &runtime.PolicyError{Rule: RuleEgressSandbox, Host: addr,
			Reason: reason + "; in sandbox mode only the sandbox listener " + allowed.String() + " is reachable"}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return refuse("network " + network + " is not TCP")
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		host, _, serr := net.SplitHostPort(addr)
		if serr == nil && host != "" {
			return refuse(fmt.Sprintf("%q is a DNS name, refused before resolution", host))
		}
		return refuse("the address is not an IP:port")
	}
	ip := ap.Addr().Unmap()
	if allowed.IsValid() && ip == allowed.Addr() && ap.Port() == allowed.Port() {
		return netip.AddrPortFrom(ip, ap.Port()), nil
	}
	return refuse(addressClass(ip) + " address")
}

// addressClass names the kind of address refused, for the report.
func addressClass(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "another loopback"
	case ip == netip.MustParseAddr("169.254.169.254") || ip == netip.MustParseAddr("fd00:ec2::254"):
		return "a cloud metadata"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local"
	case ip.IsPrivate() || sharedRange.Contains(ip):
		return "a private"
	case ip.IsUnspecified():
		return "an unspecified"
	case ip.IsMulticast():
		return "a multicast"
	}
	return "a public"
}

// sharedRange is carrier-grade NAT space (RFC 6598), private in practice.
var sharedRange = netip.MustParsePrefix("100.64.0.0/10")

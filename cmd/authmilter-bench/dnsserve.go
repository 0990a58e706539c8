package main

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// DNS is the bench's DNS: a dnstest server with the corpus zone, and
// optionally a forwarder on a fixed address (e.g. 127.0.0.77:53) for
// programs that can only use port 53 through resolv.conf or a
// "Nameservers" option. Both listen on loopback only.
type DNS struct {
	Srv       *dnstest.Server
	fwd       []*mdns.Server
	Forwarded atomic.Int64
}

// StartDNS serves zone; delay > 0 makes every answer wait that long.
// forward, when set, is host:port of the forwarder (UDP and TCP).
func StartDNS(zone string, delay time.Duration, forward string) (*DNS, error) {
	srv, err := dnstest.Start(zone)
	if err != nil {
		return nil, err
	}
	if delay > 0 {
		srv.Delay("*", delay)
	}
	d := &DNS{Srv: srv}
	if forward == "" {
		return d, nil
	}
	host, _, err := net.SplitHostPort(forward)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		srv.Close()
		return nil, fmt.Errorf("bench: -forward %q: want a loopback host:port", forward)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		d.Forwarded.Add(1)
		c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second, UDPSize: 4096}
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			c.Net = "tcp"
		}
		resp, _, err := c.Exchange(req, srv.Addr)
		if err == nil && resp.Truncated && c.Net == "udp" {
			c.Net = "tcp"
			resp, _, err = c.Exchange(req, srv.Addr)
		}
		if err != nil {
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeServerFailure)
			w.WriteMsg(m)
			return
		}
		w.WriteMsg(resp)
	})
	for _, netw := range []string{"udp", "tcp"} {
		s := &mdns.Server{Addr: forward, Net: netw, Handler: h}
		started := make(chan error, 1)
		s.NotifyStartedFunc = func() { started <- nil }
		go func() { started <- s.ListenAndServe() }()
		if err := <-started; err != nil {
			d.Close()
			return nil, fmt.Errorf("bench: forwarder %s/%s: %w", forward, netw, err)
		}
		d.fwd = append(d.fwd, s)
	}
	return d, nil
}

// Close stops the forwarder and the server.
func (d *DNS) Close() {
	for _, s := range d.fwd {
		s.Shutdown()
	}
	d.Srv.Close()
}

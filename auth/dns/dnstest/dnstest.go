// Package dnstest is an authoritative DNS server for tests. It listens on
// 127.0.0.1 with a random port (StartAt: another address) over UDP and
// TCP, serves records given in RFC 1035 master-file text, and can be told to answer SERVFAIL (or any other
// rcode), to drop queries, to force truncation, to add latency, to set
// the AD bit and to answer wrongly (Fault: another question, another ID, a
// message that does not parse). It counts the queries it receives per (name, type).
//
//	srv, err := dnstest.Start(`
//	example.com.        TXT "v=spf1 ip4:192.0.2.0/24 -all"
//	_dmarc.example.com. TXT "v=DMARC1; p=reject"
//	`)
//	if err != nil { t.Fatal(err) }
//	defer srv.Close()
//	r, _ := dns.New(dns.Config{Servers: []string{srv.Addr}})
//
// or, in one call that also closes the server when the test ends,
//
//	srv, r := dnstest.StartResolver(t, zoneText)
//
// Answers follow RFC 1034: records of the asked type; a CNAME at the name
// with, if the data has it, the target's records; wildcards (*.example.com)
// for names that do not exist; NODATA (NOERROR, SOA in the authority
// section) for names that exist with other types or are empty
// non-terminals; NXDOMAIN with the SOA otherwise. The SOA is the zone's
// closest enclosing one, or a synthetic one at "." with TTL and minimum
// DefaultTTL. UDP answers larger than the client's EDNS0 size (512 bytes
// without EDNS0) are truncated with TC set.
//
// No test in authmilter queries the Internet: every DNS answer comes from a
// fake resolver or from this server.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL of records whose text gives none.
const DefaultTTL = 300

// maxChase bounds how many CNAMEs the server follows inside its own data.
const maxChase = 8

// Server is a running test server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:PORT", the same port for UDP and TCP.
	Addr string

	udp, tcp *dns.Server
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	rrs     map[string][]dns.RR // lower-cased owner name → records
	rules   map[string]*rule    // lower-cased name, "*" for all names
	queries map[qkey]int
}

type qkey struct {
	name  string
	qtype uint16
}

// rule is what the server does for a name instead of (or besides) answering
// from its records.
type rule struct {
	rcode    int // -1: answer normally
	drop     bool
	truncate bool
	ad       bool
	delay    time.Duration
	fault    Fault
}

// Fault is a way of answering wrongly, for testing how clients take it.
type Fault int

// The faults.
const (
	// NoFault answers correctly.
	NoFault Fault = iota
	// WrongQuestion answers with the records asked for, but the question
	// section names another name ("wrong." before the asked one).
	WrongQuestion
	// Unparsable sends the answer's header (ID and QR as they should be)
	// and a question cut in the middle: a message that does not parse.
	Unparsable
	// WrongID sends the answer with another ID than the query's.
	WrongID
)

// Start parses zone (master-file lines; $ORIGIN defaults to "." and the TTL
// to DefaultTTL; "" is an empty zone) and starts serving it on 127.0.0.1.
func Start(zone string) (*Server, error) { return StartAt("127.0.0.1:0", zone) }

// StartAt is Start on a given address: a loopback address with port 53
// serves programs that read /etc/resolv.conf, which names no port (an MTA
// in a mount namespace of its own, say). Port 0 picks a free one.
func StartAt(addr, zone string) (*Server, error) {
	s := &Server{
		done:    make(chan struct{}),
		rrs:     make(map[string][]dns.RR),
		rules:   make(map[string]*rule),
		queries: make(map[qkey]int),
	}
	rrs, err := parse(zone)
	if err != nil {
		return nil, err
	}
	for _, rr := range rrs {
		s.add(rr)
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// listen opens UDP and TCP on the same port (a random one for port 0) and
// starts both servers.
func (s *Server) listen(addr string) error {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("dnstest: listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s.Addr = pc.LocalAddr().String()
		h := dns.HandlerFunc(s.serve)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: l, Handler: h, ReadTimeout: 5 * time.Second}
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			go srv.ActivateAndServe()
			<-started
		}
		return nil
	}
	return fmt.Errorf("dnstest: listen tcp: %w", lastErr)
}

// Close stops the server and releases any delayed handler.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		if s.udp != nil {
			s.udp.Shutdown()
		}
		if s.tcp != nil {
			s.tcp.Shutdown()
		}
	})
}

// parse reads master-file text with origin "." and TTL DefaultTTL.
func parse(text string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), ".", "")
	zp.SetDefaultTTL(DefaultTTL)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: zone: %w", err)
	}
	return rrs, nil
}

// Add parses one or more records in master-file text and adds them.
func (s *Server) Add(rrText string) error {
	rrs, err := parse(rrText)
	if err != nil {
		return err
	}
	if len(rrs) == 0 {
		return errors.New("dnstest: no record in text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		s.add(rr)
	}
	return nil
}

// AddRR adds records given as Go values (copied).
func (s *Server) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		s.add(dns.Copy(rr))
	}
}

func (s *Server) add(rr dns.RR) {
	k := key(rr.Header().Name)
	s.rrs[k] = append(s.rrs[k], rr)
}

// Remove deletes the records of type qtype at name; qtype 0 or dns.TypeANY
// deletes all of the name's records.
func (s *Server) Remove(name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	if qtype == 0 || qtype == dns.TypeANY {
		delete(s.rrs, k)
		return
	}
	kept := s.rrs[k][:0]
	for _, rr := range s.rrs[k] {
		if rr.Header().Rrtype != qtype {
			kept = append(kept, rr)
		}
	}
	if len(kept) == 0 {
		delete(s.rrs, k)
	} else {
		s.rrs[k] = kept
	}
}

// ServFail makes queries for name ("" or "*": all names) answer SERVFAIL.
func (s *Server) ServFail(name string) { s.Rcode(name, dns.RcodeServerFailure) }

// Rcode makes queries for name ("" or "*": all names) answer with rcode
// and no records; a negative rcode restores normal answers. With Truncate,
// the UDP answer is the truncated one and the rcode comes over TCP.
func (s *Server) Rcode(name string, rcode int) { s.rule(name, func(r *rule) { r.rcode = rcode }) }

// Drop makes the server ignore queries for name ("" or "*": all names),
// so that clients time out.
func (s *Server) Drop(name string) { s.rule(name, func(r *rule) { r.drop = true }) }

// Truncate makes UDP answers for name ("" or "*": all names) empty with the
// TC bit set; TCP answers stay complete (Rcode and Fault apply to them).
func (s *Server) Truncate(name string) { s.rule(name, func(r *rule) { r.truncate = true }) }

// Delay makes the server wait d before answering queries for name ("" or
// "*": all names).
func (s *Server) Delay(name string, d time.Duration) { s.rule(name, func(r *rule) { r.delay = d }) }

// Fault makes the complete answers for name ("" or "*": all names) come
// with fault f; NoFault restores correct answers. With Truncate, the UDP
// answer is the truncated one, correct, and the fault comes over TCP.
func (s *Server) Fault(name string, f Fault) { s.rule(name, func(r *rule) { r.fault = f }) }

// AD makes answers for name ("" or "*": all names) carry the AD bit, as a
// validating resolver would set it.
func (s *Server) AD(name string) { s.rule(name, func(r *rule) { r.ad = true }) }

// Clear removes every rule set for name ("" or "*": the all-names rule).
func (s *Server) Clear(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rules, ruleKey(name))
}

func (s *Server) rule(name string, f func(*rule)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ruleKey(name)
	r := s.rules[k]
	if r == nil {
		r = &rule{rcode: -1}
		s.rules[k] = r
	}
	f(r)
}

// Queries reports how many queries for (name, qtype) the server received;
// qtype 0 counts all types. Names are compared case-insensitively.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	if qtype != 0 {
		return s.queries[qkey{k, qtype}]
	}
	n := 0
	for q, c := range s.queries {
		if q.name == k {
			n += c
		}
	}
	return n
}

// ResetQueries sets every query counter back to zero.
func (s *Server) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.queries)
}

// key is the canonical form of a name: fully qualified, lower-cased, with
// the escapes miekg/dns prints for the octets of its labels (a space in an
// owner given raw becomes "\ ", as in the question of a query for it).
func key(name string) string {
	fq := dns.Fqdn(name)
	var buf [256]byte
	if off, err := dns.PackDomainName(fq, buf[:], 0, nil, false); err == nil {
		if s, _, err := dns.UnpackDomainName(buf[:off], 0); err == nil {
			fq = s
		}
	}
	return strings.ToLower(fq)
}

func ruleKey(name string) string {
	if name == "" || name == "*" {
		return "*"
	}
	return key(name)
}

package dnstest

import (
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// syntheticSOA is the SOA put in negative answers when the zone has none
// enclosing the name: TTL and minimum DefaultTTL.
var syntheticSOA = &dns.SOA{
	Hdr:     dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DefaultTTL},
	Ns:      "ns.dnstest.",
	Mbox:    "hostmaster.dnstest.",
	Serial:  1,
	Refresh: 3600,
	Retry:   600,
	Expire:  86400,
	Minttl:  DefaultTTL,
}

// serve answers one query.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	if len(req.Question) != 1 {
		resp.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	_, udp := w.RemoteAddr().(*net.UDPAddr)

	resp.SetReply(req)
	resp.Authoritative = true

	s.mu.Lock()
	s.queries[qkey{key(q.Name), q.Qtype}]++
	r := s.ruleFor(q.Name)
	if r.rcode < 0 && !(r.truncate && udp) && !r.drop {
		s.answer(resp, q.Name, q.Qtype)
	}
	s.mu.Unlock()

	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
	}
	fault := r.fault
	switch {
	case r.drop:
		return
	case r.truncate && udp:
		resp.Truncated = true
		fault = NoFault
	case r.rcode >= 0:
		resp.Rcode = r.rcode
	}
	resp.AuthenticatedData = r.ad

	size := dns.MaxMsgSize
	if udp {
		size = dns.MinMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if udp && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		resp.SetEdns0(opt.UDPSize(), false)
	}
	resp.Truncate(size)
	writeFault(w, resp, fault)
}

// writeFault sends resp, spoiled by fault.
func writeFault(w dns.ResponseWriter, resp *dns.Msg, fault Fault) {
	switch fault {
	case WrongQuestion:
		resp.Question[0].Name = "wrong." + resp.Question[0].Name
	case WrongID:
		resp.Id ^= 0x5a5a
	case Unparsable:
		p, err := resp.Pack()
		if err == nil && len(p) > 15 {
			w.Write(p[:15]) // header and 3 octets of the question
		}
		return
	}
	w.WriteMsg(resp)
}

// ruleFor merges the all-names rule with the rule for name; s.mu is held.
func (s *Server) ruleFor(name string) rule {
	r := rule{rcode: -1}
	for _, k := range []string{"*", key(name)} {
		x := s.rules[k]
		if x == nil {
			continue
		}
		if x.rcode >= 0 {
			r.rcode = x.rcode
		}
		r.drop = r.drop || x.drop
		r.truncate = r.truncate || x.truncate
		r.ad = r.ad || x.ad
		r.delay = max(r.delay, x.delay)
		if x.fault != NoFault {
			r.fault = x.fault
		}
	}
	return r
}

// answer fills resp from the records; s.mu is held. CNAMEs at the name are
// followed inside the data up to maxChase times. A chain whose target the
// data does not know ends with NOERROR and the CNAMEs only, as an
// authoritative server for another zone would answer.
func (s *Server) answer(resp *dns.Msg, qname string, qtype uint16) {
	name := qname
	for i := 0; i <= maxChase; i++ {
		rrs, exists := s.records(name)
		var cname dns.RR
		n := len(resp.Answer)
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == qtype || qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, dns.Copy(rr))
			} else if t == dns.TypeCNAME {
				cname = rr
			}
		}
		if len(resp.Answer) > n {
			return
		}
		if cname != nil {
			resp.Answer = append(resp.Answer, dns.Copy(cname))
			name = cname.(*dns.CNAME).Target
			continue
		}
		switch {
		case exists:
			resp.Ns = append(resp.Ns, s.soa(name))
		case i > 0:
			// The chain left our data: the answer so far is all we know.
		default:
			resp.Rcode = dns.RcodeNameError
			resp.Ns = append(resp.Ns, s.soa(name))
		}
		return
	}
}

// records returns the records owned by name, or else those of the wildcard
// at its closest encloser with name as owner (RFC 1034 section 4.3.3,
// RFC 4592), and whether name exists; s.mu is held.
func (s *Server) records(name string) ([]dns.RR, bool) {
	k := key(name)
	if rrs := s.rrs[k]; len(rrs) > 0 || s.exists(k) {
		return rrs, true
	}
	for p := parent(k); ; p = parent(p) {
		star := "*." + p
		if p == "." {
			star = "*."
		}
		if rrs := s.rrs[star]; len(rrs) > 0 {
			out := make([]dns.RR, len(rrs))
			for i, rr := range rrs {
				out[i] = dns.Copy(rr)
				out[i].Header().Name = name
			}
			return out, true
		}
		if p == "." || s.exists(p) {
			return nil, false
		}
	}
}

// exists reports whether name owns records or is an empty non-terminal.
func (s *Server) exists(name string) bool {
	k := key(name)
	if len(s.rrs[k]) > 0 || k == "." {
		return true
	}
	for owner, rrs := range s.rrs {
		if len(rrs) > 0 && below(owner, k) {
			return true
		}
	}
	return false
}

// below reports whether owner is a proper descendant of k, both canonical.
func below(owner, k string) bool {
	if len(owner) <= len(k) || !strings.HasSuffix(owner, k) || owner[len(owner)-len(k)-1] != '.' {
		return false
	}
	// The dot before k must not be escaped: count the backslashes before it.
	n := 0
	for i := len(owner) - len(k) - 2; i >= 0 && owner[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// soa returns the SOA of the closest enclosing name that has one, or the
// synthetic SOA.
func (s *Server) soa(name string) dns.RR {
	k := key(name)
	for {
		for _, rr := range s.rrs[k] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return dns.Copy(rr)
			}
		}
		if k == "." {
			return dns.Copy(syntheticSOA)
		}
		k = parent(k)
	}
}

// parent returns the parent of a lower-cased FQDN ("." for a TLD).
func parent(k string) string {
	for i := 0; i < len(k)-1; i++ {
		switch k[i] {
		case '\\':
			i++ // an escaped octet, maybe a dot inside a label
		case '.':
			return k[i+1:]
		}
	}
	return "."
}

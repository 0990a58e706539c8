package dns

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// ednsSize is the EDNS0 UDP payload size we announce (DNS flag day 2020).
	ednsSize = 1232
	// maxCNAME bounds the CNAMEs followed for one lookup, across the
	// answer and the queries for chain targets.
	maxCNAME = 8
	// maxChase bounds the extra queries for targets of CNAME chains that end
	// without records of the asked type.
	maxChase = 3
)

// fetch resolves key upstream, following CNAME chains, and returns the
// outcome as an entry (expires unset). For negative entries ans.TTL is the
// RFC 2308 TTL, or -1 without SOA.
func (r *Resolver) fetch(ctx context.Context, key cacheKey) *entry {
	name := key.name
	cnames := 0
	ttl := time.Duration(-1)
	authentic := true
	seen := map[string]bool{name: true}
	for q := 0; ; q++ {
		resp, server, cause := r.exchangeAll(ctx, name, key.qtype)
		if cause != nil {
			return &entry{cause: cause, server: server, ans: Answer{TTL: -1}}
		}
		authentic = authentic && resp.AuthenticatedData
		res := extract(resp, name, key.qtype, seen)
		cnames += res.cnames
		switch {
		case res.loop:
			return &entry{cause: badAnswer("CNAME loop at %s", res.name), server: server, ans: Answer{TTL: -1}}
		case cnames > maxCNAME:
			return &entry{cause: badAnswer("CNAME chain longer than %d", maxCNAME), server: server, ans: Answer{TTL: -1}}
		}
		ttl = minTTL(ttl, res.ttl)
		e := &entry{server: server}
		e.ans.Type = key.qtype
		e.ans.Canonical = res.name
		e.ans.Authentic = authentic
		switch {
		case resp.Rcode == dns.RcodeNameError:
			e.cause = ErrNXDomain
		case resp.Rcode != dns.RcodeSuccess:
			e.cause = rcodeCause(resp.Rcode)
			e.ans.TTL = -1
			return e
		case len(res.rrs) > 0:
			fill(&e.ans, res.rrs)
			e.ans.TTL = ttl
			return e
		case res.name != name && !res.soa && q < maxChase:
			// The chain left the server's data: ask for its target.
			name = res.name
			continue
		default:
			e.cause = ErrNoData
		}
		// RFC 2308 section 5: negative TTL from the SOA in the authority
		// section; none means do not cache.
		e.ans.TTL = -1
		if res.soa {
			e.ans.TTL = minTTL(ttl, res.negTTL)
		}
		return e
	}
}

// extracted is what one answer says about name.
type extracted struct {
	name   string   // end of the CNAME chain from the asked name
	rrs    []dns.RR // records of the asked type at name
	cnames int      // CNAMEs followed
	loop   bool     // a CNAME led back to a name already seen
	ttl    time.Duration
	soa    bool          // an SOA is in the authority section
	negTTL time.Duration // min(SOA TTL, SOA minimum)
}

// extract follows the CNAME chain from name through the answer section
// (RFC 1034 section 3.6.2) and collects the records of type qtype at its
// end. Records at other names are ignored.
func extract(resp *dns.Msg, name string, qtype uint16, seen map[string]bool) extracted {
	x := extracted{name: name, ttl: -1}
	for {
		var target string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !sameName(h.Name, x.name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				x.rrs = append(x.rrs, rr)
				x.ttl = minTTL(x.ttl, ttlOf(h))
			case h.Rrtype == dns.TypeCNAME && target == "":
				target = lower(strings.TrimSuffix(rr.(*dns.CNAME).Target, "."))
				x.ttl = minTTL(x.ttl, ttlOf(h))
			}
		}
		if len(x.rrs) > 0 || target == "" {
			break
		}
		x.cnames++
		if seen[target] {
			x.loop = true
			return x
		}
		seen[target] = true
		x.name = target
		if x.cnames > maxCNAME {
			return x
		}
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			x.soa = true
			x.negTTL = min(ttlOf(&soa.Hdr), time.Duration(soa.Minttl)*time.Second)
			break
		}
	}
	return x
}

// fill sets the field of a for the records' type.
func fill(a *Answer, rrs []dns.RR) {
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.TXT:
			a.TXT = append(a.TXT, joinTXT(rr.Txt))
		case *dns.A:
			a.IPs = append(a.IPs, rr.A)
		case *dns.AAAA:
			a.IPs = append(a.IPs, rr.AAAA)
		case *dns.MX:
			a.MX = append(a.MX, &net.MX{Host: rr.Mx, Pref: rr.Preference})
		case *dns.PTR:
			a.PTR = append(a.PTR, rr.Ptr)
		case *dns.TLSA:
			a.TLSA = append(a.TLSA, TLSA{Usage: rr.Usage, Selector: rr.Selector,
				MatchingType: rr.MatchingType, Data: rr.Certificate})
		}
	}
	slices.SortStableFunc(a.MX, func(x, y *net.MX) int { return cmp.Compare(x.Pref, y.Pref) })
}

// exchangeAll sends the query up to Attempts times, round-robin over the
// servers, and returns the first answer that settles it. Timeouts and
// network errors are retried; error rcodes (SERVFAIL, REFUSED, FORMERR, ...)
// and bad answers only on another server.
func (r *Resolver) exchangeAll(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	servers := r.cfg.Servers
	var (
		server string
		cause  error
		resp   *dns.Msg
	)
	for i := range r.cfg.Attempts {
		if ctx.Err() != nil {
			if cause == nil {
				cause = ErrTimeout
			}
			break
		}
		server = servers[i%len(servers)]
		resp, cause = r.exchange(ctx, server, name, qtype)
		if cause == nil {
			if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError || len(servers) == 1 {
				return resp, server, nil
			}
			continue
		}
		if errors.Is(cause, ErrBadAnswer) && len(servers) == 1 {
			break
		}
	}
	if cause == nil && resp != nil {
		return resp, server, nil
	}
	return nil, server, cause
}

// rcodeCause maps an error rcode to its sentinel.
func rcodeCause(rcode int) error {
	switch rcode {
	case dns.RcodeServerFailure:
		return ErrServFail
	case dns.RcodeRefused:
		return ErrRefused
	}
	name, ok := dns.RcodeToString[rcode]
	if !ok {
		name = strconv.Itoa(rcode)
	}
	return badAnswer("rcode %s", name)
}

// exchange sends one query to server over UDP, and over TCP if the answer is
// truncated or does not fit the buffer. It returns an answer checked
// against the question, or ErrTimeout, ErrNetwork or ErrBadAnswer.
func (r *Resolver) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name+".", qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = true // RFC 6840 section 5.7: we want the AD bit
	q.SetEdns0(ednsSize, false)

	// One deadline for the attempt, a TCP retry included.
	start := time.Now()
	deadline := start.Add(r.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	resp, err := r.roundTrip(ctx, deadline, "udp", server, q)
	if err == nil && resp.Rcode == dns.RcodeFormatError && resp.IsEdns0() == nil {
		// RFC 6891 section 7: a server without EDNS0 support answers
		// FORMERR without OPT; ask again without it.
		q.Extra = nil
		q.Id = dns.Id()
		resp, err = r.roundTrip(ctx, deadline, "udp", server, q)
	}
	if err == nil && resp.Truncated || errors.Is(err, errTooBig) {
		resp, err = r.roundTrip(ctx, deadline, "tcp", server, q)
	}
	r.stats.observe(time.Since(start), resp, err)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errTooBig: a UDP answer did not fit the buffer (a server ignoring EDNS0).
var errTooBig = errors.New("dns: answer too big for UDP")

// roundTrip makes one exchange over network ("udp" or "tcp") before
// deadline. A closed context closes the connection.
func (r *Resolver) roundTrip(ctx context.Context, deadline time.Time, network, server string, q *dns.Msg) (*dns.Msg, error) {
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, netCause(ctx, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.SetDeadline(deadline)

	co := &dns.Conn{Conn: c, UDPSize: ednsSize}
	if err := co.WriteMsg(q); err != nil {
		return nil, netCause(ctx, err)
	}
	tcp := network == "tcp"
	for {
		p, err := readMsg(co, tcp)
		if err != nil {
			return nil, netCause(ctx, err)
		}
		resp, err := checkAnswer(q, p, tcp)
		if err == errForeign {
			continue
		}
		return resp, err
	}
}

// readMsg reads one message. On UDP, a datagram that fills the buffer was
// probably cut: errTooBig sends the query to TCP.
func readMsg(co *dns.Conn, tcp bool) ([]byte, error) {
	if tcp {
		return co.ReadMsgHeader(nil) // at most 65,535 bytes: the DNS maximum
	}
	p := make([]byte, ednsSize+1)
	n, err := co.Read(p)
	if err != nil {
		return nil, err
	}
	if n > ednsSize {
		return nil, errTooBig
	}
	return p[:n], nil
}

// errForeign: a UDP datagram that is not the answer to our query.
var errForeign = errors.New("dns: not our answer")

// checkAnswer unpacks p, received for q over TCP or UDP, and checks that it
// answers q (RFC 5452 section 9.1: ID, question name, type and class). Over
// UDP a datagram with another ID, or too short to have one, is errForeign:
// the caller keeps waiting for ours, which a spoofer cannot stop. Anything
// else wrong is ErrBadAnswer, the same over UDP and TCP; over UDP a
// truncated answer that does not parse is errTooBig, for TCP. An error
// answer (rcode other than NOERROR or NXDOMAIN) may leave out the question.
func checkAnswer(q *dns.Msg, p []byte, tcp bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	uerr := m.Unpack(p)
	if len(p) < 12 || m.Id != q.Id || !m.Response {
		switch {
		case !tcp:
			return nil, errForeign
		case len(p) < 12:
			return nil, badAnswer("TCP answer of %d octets", len(p))
		}
		return nil, badAnswer("TCP answer with ID %d for query ID %d", m.Id, q.Id)
	}
	if uerr != nil {
		if !tcp && m.Truncated {
			return nil, errTooBig
		}
		return nil, badAnswer("answer does not parse: %v", uerr)
	}
	if m.Opcode != q.Opcode {
		return nil, badAnswer("answer with opcode %d", m.Opcode)
	}
	if len(m.Question) == 0 && m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return m, nil
	}
	if len(m.Question) != 1 {
		return nil, badAnswer("answer with %d questions", len(m.Question))
	}
	rq, qq := m.Question[0], q.Question[0]
	if rq.Qtype != qq.Qtype || rq.Qclass != qq.Qclass || !sameName(rq.Name, qq.Name) {
		return nil, badAnswer("answer for %s %s, not %s %s", rq.Name, dns.Type(rq.Qtype), qq.Name, dns.Type(qq.Qtype))
	}
	return m, nil
}

// netCause classifies a transport error.
func netCause(ctx context.Context, err error) error {
	if errors.Is(err, errTooBig) {
		return err
	}
	var ne net.Error
	if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrNetwork
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func ttlOf(h *dns.RR_Header) time.Duration { return time.Duration(h.Ttl) * time.Second }

// minTTL is min over TTLs where -1 means unset.
func minTTL(a, b time.Duration) time.Duration {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

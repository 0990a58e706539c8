package dkim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// Reasons given with a Policy result.
const (
	reasonSHA1  = "rsa-sha1 not accepted (RFC 8301)"
	reasonLimit = "signature limit reached"
)

// futureSkew is the clock drift tolerated on t= before it is logged.
const futureSkew = 5 * time.Minute

// evaluate decides the Result of signature i. The checks run in a fixed
// order, the first that applies decides (doc.go lists it).
func (v *Verifier) evaluate(i int, s *sigState) Result {
	r := s.describe()
	set := func(result Status, reason string) Result {
		r.Result, r.Reason = result, reason
		v.log.Debug("dkim: result", "index", i, "d", r.Domain, "s", r.Selector,
			"a", r.Algorithm, "result", result, "reason", reason)
		return r
	}
	switch {
	case v.state == stateOverflow:
		return set(PermError, "header block too large")
	case s.skipped:
		return set(Policy, reasonLimit)
	case s.err != nil:
		return set(PermError, errReason(s.err))
	}
	sig := s.sig
	now := v.opts.Now()
	if sig.timestamp >= 0 && time.Unix(sig.timestamp, 0).After(now.Add(futureSkew)) {
		// RFC 6376 §3.5 t=: not an error; noted for the operator.
		v.log.Debug("dkim: signature timestamp in the future", "index", i, "t", sig.timestamp)
	}
	if sig.expired(now) {
		return set(Fail, "signature expired") // RFC 6376 §3.5 x=, §6.1.1: reported as fail
	}

	// The key, as far as it can be had; rsa-sha1 is refused whatever the
	// key, but KeyBits is still reported.
	key, keyResult, keyReason := v.key(s)
	if key != nil {
		r.KeyBits = key.bits
		r.Testing = key.hasFlag("y")
	}
	if sig.algorithm == "rsa-sha1" {
		return set(Policy, reasonSHA1) // RFC 8301 §3.1
	}
	if key == nil {
		return set(keyResult, keyReason)
	}
	keyAlgo, _, _ := strings.Cut(sig.algorithm, "-")
	switch {
	case key.keyType != keyAlgo:
		return set(PermError, "key type k="+key.keyType+" does not match a=") // §6.1.2 step 8
	case !key.allowsHash("sha256") && key.allowsHash("sha1"):
		return set(Policy, reasonSHA1) // key h= allows only sha1: RFC 8301 §3.1
	case !key.allowsHash("sha256"):
		return set(PermError, "key h= excludes sha256") // §6.1.2 step 6
	case !key.forEmail():
		return set(PermError, "key s= excludes email") // §3.6.1 s=
	case key.hasFlag("s") && !strictIdentity(sig):
		return set(PermError, "i= domain must equal d= (key t=s)") // §3.6.1 t=s
	case key.keyType == "rsa" && key.bits < v.opts.MinRSABits:
		return set(Policy, fmt.Sprintf("rsa key too short (%d bits)", key.bits)) // RFC 8301 §3.2
	}
	return set(check(s, key))
}

// key returns the parsed key record of s, or the Result and reason for not
// having one (RFC 6376 §6.1.2).
func (v *Verifier) key(s *sigState) (*keyRecord, Status, string) {
	f := s.fetch
	<-f.done
	if f.err != nil {
		switch {
		case dns.IsNotFound(f.err):
			return nil, PermError, "no key record"
		case dns.IsTemporary(f.err), errors.Is(f.err, context.DeadlineExceeded),
			errors.Is(f.err, context.Canceled):
			return nil, TempError, "key lookup: " + lookupReason(f.err)
		default:
			return nil, PermError, "key lookup: " + lookupReason(f.err)
		}
	}
	switch len(f.txts) {
	case 0:
		return nil, PermError, "no key record"
	case 1:
	default:
		// §3.6.2.2: several records give undefined results.
		return nil, PermError, "several key records"
	}
	k, err := v.opts.Keys.parse(f.txts[0])
	if err != nil {
		if errors.Is(err, ErrKeyRevoked) {
			return nil, PermError, "key revoked"
		}
		return nil, PermError, errReason(err)
	}
	return k, "", ""
}

// lookupReason is the short cause of a failed lookup ("timeout", "server
// failure"), without the name, which the Result already carries.
func lookupReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return shorten(strings.TrimPrefix(de.Err, "dns: "))
	}
	return errReason(err)
}

// strictIdentity reports whether the domain of i= equals d= (§3.6.1 t=s).
func strictIdentity(s *signature) bool {
	at := strings.LastIndexByte(s.identifier, '@')
	return strings.EqualFold(s.identifier[at+1:], s.domain)
}

// errReason turns an error into a short reason (no "dkim: " prefix).
func errReason(err error) string {
	msg := err.Error()
	for strings.HasPrefix(msg, "dkim: ") {
		msg = strings.TrimPrefix(msg, "dkim: ")
	}
	if len(msg) > 80 {
		msg = msg[:80] + "..."
	}
	return msg
}

// describe fills the descriptive fields of a Result: from the parsed
// signature when there is one, else from its value (describe below).
func (s *sigState) describe() Result {
	sig := s.sig
	if sig == nil {
		return describe(s.value)
	}
	return Result{Domain: sig.domain, Selector: sig.selector, Algorithm: sig.algorithm,
		Identifier: sig.identifier, HeaderB: sig.b[:min(len(sig.b), 8)]}
}

// describe fills the descriptive fields of a Result from a signature value,
// leniently, so that even unusable signatures are reported with what they
// claim.
func describe(value string) Result {
	var r Result
	tags, err := parseTagList(value)
	if err != nil {
		return r
	}
	r.Domain = strings.ToLower(stripFWS(tags["d"]))
	r.Selector = stripFWS(tags["s"])
	r.Algorithm = strings.ToLower(stripFWS(tags["a"]))
	r.Identifier = decodeQP(stripFWS(tags["i"]))
	if _, ok := tags["i"]; !ok && r.Domain != "" {
		r.Identifier = "@" + r.Domain
	}
	b := stripFWS(tags["b"])
	r.HeaderB = b[:min(len(b), 8)] // RFC 6008 §4: header.b
	return r
}

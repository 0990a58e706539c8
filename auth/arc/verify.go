package arc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// Verifier verifies one message's ARC chain while the message streams in:
// NewVerifier with the header fields, Write with the body, Result at the
// end. It is not safe for concurrent use.
type Verifier struct {
	opts   Options
	fields []string
	sets   []set
	seals  []*seal   // by instance - 1
	sigs   []*msgSig // by instance - 1
	bodies []*dkim.BodyHasher
	res    Result // set early when the chain is decided by its header
	done   bool
	keys   map[string]*keyLookup // by DNS name, once Lookup ran
}

// NewVerifier starts a verification. fields are the message's header
// fields in order, top first, each as received with its CRLFs (RFC 5322
// §2.2); the slice is kept until Result.
func NewVerifier(opts Options, fields []string) *Verifier {
	v := &Verifier{opts: opts, fields: fields}
	sets, err := collect(fields)
	switch {
	case err != nil:
		v.fail(err.Error(), false)
		return v
	case len(sets) == 0:
		v.res, v.done = Result{Result: None}, true // §5.2 step 1
		return v
	}
	v.sets = sets
	v.res.Instances = len(sets)
	for i, s := range sets {
		sl, err := parseSeal(s.seal)
		if err != nil {
			v.fail(fmt.Sprintf("%s i=%d: %v", nameSeal, i+1, err), false)
			return v
		}
		ms, err := parseMsgSig(s.ams)
		if err != nil {
			v.fail(fmt.Sprintf("%s i=%d: %v", nameAMS, i+1, err), false)
			return v
		}
		v.seals, v.sigs = append(v.seals, sl), append(v.sigs, ms)
	}
	// §5.2 step 2: a newest seal with cv=fail ends the chain as fail.
	if n := len(v.seals); v.seals[n-1].cv == "fail" {
		v.fail(fmt.Sprintf("%s i=%d has cv=fail", nameSeal, n), false)
		return v
	}
	// §5.2 step 3 and §4.1.3: cv=none for i=1, cv=pass for every later set.
	for i, s := range v.seals {
		if want := map[bool]string{true: "none", false: "pass"}[i == 0]; s.cv != want {
			v.fail(fmt.Sprintf("%s i=%d has cv=%s, want %s", nameSeal, i+1, s.cv, want), false)
			return v
		}
	}
	for _, m := range v.sigs {
		if v.bodyFor(m) == nil {
			v.bodies = append(v.bodies, dkim.NewBodyHasher(m.bodyRelaxed, m.limit))
		}
	}
	return v
}

// fail decides the chain as fail for reason.
func (v *Verifier) fail(reason string, temporary bool) {
	v.res = Result{Result: Fail, Instances: v.res.Instances, Reason: reason, Temporary: temporary}
	v.done = true
}

// bodyFor returns the body hash for m, nil if none was set up.
func (v *Verifier) bodyFor(m *msgSig) *dkim.BodyHasher {
	for _, b := range v.bodies {
		if b.Relaxed() == m.bodyRelaxed && b.Limit() == m.limit {
			return b
		}
	}
	return nil
}

// Write adds body octets (after the header's empty line); it never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	if !v.done {
		for _, b := range v.bodies {
			b.Write(p)
		}
	}
	return len(p), nil
}

// Lookup starts the key lookups of every signature in the chain, each in
// its own goroutine, so that they run while the body streams in (call it
// when the header has ended); Result waits for them. ctx bounds them.
// Calling it more than once, or not at all, is harmless.
func (v *Verifier) Lookup(ctx context.Context) {
	if v.keys != nil || v.done {
		return
	}
	v.keys = map[string]*keyLookup{}
	start := func(domain, sel string) {
		name := sel + "._domainkey." + domain
		if v.keys[name] != nil {
			return
		}
		l := &keyLookup{done: make(chan struct{})}
		v.keys[name] = l
		go func() {
			l.answer = v.lookup(ctx, name)
			close(l.done)
		}()
	}
	for i := len(v.sets) - 1; i >= 0; i-- {
		start(v.sigs[i].domain, v.sigs[i].sel)
		start(v.seals[i].domain, v.seals[i].sel)
	}
}

// Result ends the body, waits for the keys and judges the chain (RFC 8617
// §5.2). It may be called once. Checks stop at the first permanent failure;
// past temporary DNS failures they go on, to tell whether those were the
// only cause.
func (v *Verifier) Result(ctx context.Context) Result {
	if v.done {
		return v.res
	}
	v.Lookup(ctx)
	v.done = true
	n := len(v.sets)
	reason, temporary := "", true
	failed := func(r string, temp bool) bool {
		if reason == "" {
			reason = r
		}
		temporary = temporary && temp
		return !temp
	}
	// §5.2 step 4: the newest AMS must verify.
	stop := false
	if r, temp := v.checkAMS(ctx, v.sigs[n-1]); r != "" {
		stop = failed(fmt.Sprintf("%s i=%d: %s", nameAMS, n, r), temp)
	}
	// §5.2 step 6: every seal, newest first.
	for i := n; i >= 1 && !stop; i-- {
		s := v.seals[i-1]
		sr := Sealer{Instance: i, Domain: s.domain, Selector: s.sel, Result: Pass}
		if r, temp := v.checkSeal(ctx, i); r != "" {
			sr.Result = Fail
			stop = failed(fmt.Sprintf("%s i=%d: %s", nameSeal, i, r), temp)
		}
		v.res.Sealers = append(v.res.Sealers, sr)
	}
	if reason != "" {
		v.res.Result, v.res.Reason, v.res.Temporary = Fail, reason, temporary
		return v.res
	}
	v.res.Result = Pass
	v.res.AAR = fieldValue(v.sets[n-1].aar)
	// §5.2 step 5: oldest-pass, the AMS from N-1 down.
	for i := n - 1; i >= 1; i-- {
		if r, _ := v.checkAMS(ctx, v.sigs[i-1]); r != "" {
			v.res.OldestPass = i + 1
			break
		}
	}
	return v.res
}

// keyLookup is a key lookup under way; answer is set once done is closed.
type keyLookup struct {
	done   chan struct{}
	answer keyAnswer
}

// keyAnswer is a looked-up key, or why there is none.
type keyAnswer struct {
	key       *dkim.Key
	reason    string
	temporary bool
}

// key looks up selector._domainkey.domain once per verification (RFC 8617
// §4.1.2, RFC 6376 §3.6.2) and checks it suits algorithm algo.
func (v *Verifier) key(ctx context.Context, domain, sel, algo string) (*dkim.Key, string, bool) {
	l := v.keys[sel+"._domainkey."+domain]
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, "key lookup: " + ctx.Err().Error(), true
	}
	a := l.answer
	if a.key == nil {
		return nil, a.reason, a.temporary
	}
	k := a.key
	minBits := max(v.opts.MinRSABits, 1024)
	switch {
	case algo == "rsa-sha256" && k.Type() != "rsa", algo == "ed25519-sha256" && k.Type() != "ed25519":
		return nil, "key type does not match a=" + algo, false
	case !k.AllowsHash("sha256"):
		return nil, "key h= does not allow sha256", false
	case !k.ForEmail():
		return nil, "key s= does not allow email", false
	case k.Type() == "rsa" && k.Bits() < minBits:
		return nil, fmt.Sprintf("RSA key of %d bits (RFC 8301 §3.2)", k.Bits()), false
	}
	return k, "", false
}

func (v *Verifier) lookup(ctx context.Context, name string) keyAnswer {
	if v.opts.Resolver == nil {
		return keyAnswer{reason: "no resolver"}
	}
	txts, err := v.opts.Resolver.LookupTXT(ctx, name)
	switch {
	case dns.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return keyAnswer{reason: "key lookup: temporary DNS error", temporary: true}
	case err != nil:
		return keyAnswer{reason: "key lookup: no key record"}
	case len(txts) == 0:
		return keyAnswer{reason: "key lookup: no key record"}
	case len(txts) > 1:
		return keyAnswer{reason: "key lookup: several key records"}
	}
	k, err := v.opts.Keys.ParseKey(txts[0])
	if err != nil {
		return keyAnswer{reason: "key record: " + err.Error()}
	}
	return keyAnswer{key: k}
}

// checkAMS verifies an ARC-Message-Signature like a DKIM signature (RFC
// 8617 §5.2 step 4, RFC 6376 §6.1.3) and returns why it failed ("" when
// it verified) and whether only a temporary DNS error was the cause.
func (v *Verifier) checkAMS(ctx context.Context, m *msgSig) (string, bool) {
	b := v.bodyFor(m)
	sum, length, ok := b.Sum()
	switch {
	case !ok:
		return "body hash unusable", false
	case m.limit >= 0 && length < m.limit:
		return "l= exceeds the body length", false
	case subtle.ConstantTimeCompare(sum, m.bodyHash) != 1:
		return "body hash did not verify", false
	}
	buf := dkim.AppendSignedFields(nil, v.fields, m.headers, m.headerRelaxed) // RFC 8617 §4.1.2
	buf = dkim.AppendCanonHeader(buf, dkim.EmptyB(m.field), m.headerRelaxed)
	return v.checkSig(ctx, m.domain, m.sel, m.algo, buf[:len(buf)-2], m.sig)
}

// checkSeal verifies the ARC-Seal of instance i (RFC 8617 §5.1.1).
func (v *Verifier) checkSeal(ctx context.Context, i int) (string, bool) {
	buf := appendSealed(nil, v.sets[:i])
	s := v.seals[i-1]
	return v.checkSig(ctx, s.domain, s.sel, s.algo, buf[:len(buf)-2], s.sig)
}

// appendSealed appends what the ARC-Seal of the last of sets signs (RFC
// 8617 §5.1.1): the sets in order, each as AAR, AMS, AS, in relaxed
// canonicalization, the last seal with its b= emptied (its CRLF is for
// the caller to drop).
func appendSealed(buf []byte, sets []set) []byte {
	for j, s := range sets {
		buf = dkim.AppendCanonHeader(buf, s.aar, true)
		buf = dkim.AppendCanonHeader(buf, s.ams, true)
		if j < len(sets)-1 {
			buf = dkim.AppendCanonHeader(buf, s.seal, true)
		}
	}
	return dkim.AppendCanonHeader(buf, dkim.EmptyB(sets[len(sets)-1].seal), true)
}

func (v *Verifier) checkSig(ctx context.Context, domain, sel, algo string, signed, sig []byte) (string, bool) {
	k, reason, temp := v.key(ctx, domain, sel, algo)
	if k == nil {
		return reason, temp
	}
	h := sha256.Sum256(signed)
	if k.VerifySHA256(h[:], sig) != nil {
		return "signature did not verify", false
	}
	return "", false
}

// Verify verifies the ARC chain of a whole message read from r (header,
// empty line, body; CRLF line ends).
func Verify(ctx context.Context, opts Options, r io.Reader) (Result, error) {
	msg, err := io.ReadAll(r)
	if err != nil {
		return Result{}, err
	}
	fields, body := SplitHeader(msg)
	v := NewVerifier(opts, fields)
	v.Write(body)
	return v.Result(ctx), nil
}

// SplitHeader splits a message into its header fields (each with its
// CRLFs) and its body.
func SplitHeader(msg []byte) ([]string, []byte) {
	var fields []string
	for len(msg) > 0 {
		if bytes.HasPrefix(msg, []byte("\r\n")) {
			return fields, msg[2:]
		}
		end := 0
		for {
			i := bytes.Index(msg[end:], []byte("\r\n"))
			if i < 0 {
				end = len(msg)
				break
			}
			end += i + 2
			if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
				break
			}
		}
		fields = append(fields, string(msg[:end]))
		msg = msg[end:]
	}
	return fields, nil
}

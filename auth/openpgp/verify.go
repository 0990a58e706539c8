package openpgp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/authmilter/authmilter/auth/mime"
)

// KeySource finds the public keys that may have made a signature.
type KeySource interface {
	// Keys returns the entities holding the key with this ID (fingerprint
	// is the issuer fingerprint when the signature names it, else nil).
	// No key is (nil, nil); an error means the lookup failed and may work
	// later.
	Keys(ctx context.Context, keyID uint64, fingerprint []byte) (pgp.EntityList, error)
}

// Keyring is a KeySource over keys the admin keeps.
type Keyring pgp.EntityList

// ReadKeyring reads an armored or binary keyring.
func ReadKeyring(r io.Reader) (Keyring, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("openpgp: reading keyring: %w", err)
	}
	el, err := pgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		el, err = pgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("openpgp: reading keyring: %w", err)
	}
	return Keyring(el), nil
}

// Keys returns the keyring's entities that hold the key.
func (k Keyring) Keys(_ context.Context, keyID uint64, _ []byte) (pgp.EntityList, error) {
	var out pgp.EntityList
	for _, key := range pgp.EntityList(k).KeysById(keyID) {
		out = append(out, key.Entity)
	}
	return out, nil
}

// Options configure a Verifier. Zero values take the defaults.
type Options struct {
	// Keys finds public keys; nil finds none (every signature "neutral"
	// unless ByAddress finds the key).
	Keys KeySource
	// ByAddress, when set, finds the key of a signature that Keys does not
	// hold by the From address (WKD). Such a key is published by the
	// author's domain (draft-koch-openpgp-webkey-service §1), so a valid
	// signature by it that names the From address passes; its result says
	// "key from WKD". A failed lookup is a temperror.
	ByAddress AddressKeySource
	// MaxAddressLookups bounds the From addresses looked up by ByAddress
	// per signature (default 1).
	MaxAddressLookups int
	// MaxSignatures bounds the signature packets verified per signature
	// part or block (default 4).
	MaxSignatures int
	// MinRSABits and MaxRSABits bound RSA keys (default 2048 and 8192): a
	// smaller key is "policy", a larger one is not used.
	MinRSABits int
	MaxRSABits int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier verifies OpenPGP signatures. It is safe for concurrent use.
type Verifier struct{ o Options }

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.MaxSignatures <= 0 {
		o.MaxSignatures = 4
	}
	if o.MinRSABits <= 0 {
		o.MinRSABits = 2048
	}
	if o.MaxAddressLookups <= 0 {
		o.MaxAddressLookups = 1
	}
	if o.MaxRSABits <= 0 {
		o.MaxRSABits = 8192
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{o: o}
}

// VerifyDetached verifies a PGP/MIME signature part (armored, or binary
// packets) against the hash of the signed part. from lists the author
// addresses; part names the signed entity. One result per signature packet.
func (v *Verifier) VerifyDetached(ctx context.Context, part string, sig []byte, h *Hasher, from []string) (rs []mime.Result) {
	res := func(s mime.Status, reason string) []mime.Result {
		return []mime.Result{{Method: mime.MethodOpenPGP, Result: s, Part: part, Reason: reason}}
	}
	defer func() {
		// The packet parser sees hostile input; a panic in it is a parse
		// error.
		if p := recover(); p != nil {
			rs = res(mime.StatusPermerror, fmt.Sprintf("OpenPGP parser failed: %v", p))
		}
	}()
	var body io.Reader = bytes.NewReader(sig)
	if bytes.Contains(sig[:min(len(sig), 200)], []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return res(mime.StatusPermerror, "bad armor: "+err.Error())
		}
		if block.Type != "PGP SIGNATURE" {
			return res(mime.StatusPermerror, "armor block is "+block.Type+", not PGP SIGNATURE")
		}
		body = block.Body
	}
	sigs, err := readSignatures(body, v.o.MaxSignatures)
	if len(sigs) == 0 {
		if err == nil {
			err = errors.New("no signature packet")
		}
		return res(mime.StatusPermerror, "unparsable signature: "+err.Error())
	}
	for _, s := range sigs {
		rs = append(rs, v.one(ctx, part, s, h, from))
	}
	if err != nil {
		rs = append(rs, mime.Result{Method: mime.MethodOpenPGP, Result: mime.StatusNeutral, Part: part,
			Reason: "further packets not verified: " + err.Error()})
	}
	return rs
}

var errTooMany = errors.New("too many signatures")

// readSignatures reads up to max signature packets; err says why it
// stopped early.
func readSignatures(r io.Reader, max int) (sigs []*packet.Signature, err error) {
	pr := packet.NewReader(r)
	for {
		p, err := pr.Next()
		if err == io.EOF {
			return sigs, nil
		}
		if err != nil {
			return sigs, err
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return sigs, fmt.Errorf("a %T packet where signatures belong", p)
		}
		if len(sigs) == max {
			return sigs, errTooMany
		}
		sigs = append(sigs, s)
	}
}

// one verifies one signature packet.
func (v *Verifier) one(ctx context.Context, part string, sig *packet.Signature, h *Hasher, from []string) mime.Result {
	r := mime.Result{Method: mime.MethodOpenPGP, Part: part}
	fail := func(s mime.Status, reason string) mime.Result {
		r.Result, r.Reason = s, reason
		return r
	}
	switch {
	case sig.Version == 6:
		return fail(mime.StatusNeutral, "version 6 signatures are not verified")
	case sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText:
		return fail(mime.StatusPermerror, fmt.Sprintf("signature type %#x is not a document signature", uint8(sig.SigType)))
	}
	var keyID uint64
	switch {
	case sig.IssuerKeyId != nil:
		keyID = *sig.IssuerKeyId
	case len(sig.IssuerFingerprint) >= 8:
		fp := sig.IssuerFingerprint
		for _, b := range fp[len(fp)-8:] {
			keyID = keyID<<8 | uint64(b)
		}
	default:
		return fail(mime.StatusPermerror, "signature names no issuer")
	}
	if v.o.Keys == nil && v.o.ByAddress == nil {
		return fail(mime.StatusNeutral, "no keys configured")
	}
	var keys []pgp.Key
	if v.o.Keys != nil {
		entities, err := v.o.Keys.Keys(ctx, keyID, sig.IssuerFingerprint)
		if err != nil {
			return fail(mime.StatusTemperror, "key lookup failed: "+err.Error())
		}
		keys = pgp.EntityList(entities).KeysByIdUsage(keyID, packet.KeyFlagSign)
	}
	fromWKD := false
	if len(keys) == 0 && v.o.ByAddress != nil {
		var err error
		if keys, err = v.byAddress(ctx, keyID, from); err != nil {
			return fail(mime.StatusTemperror, "key lookup failed: "+err.Error())
		}
		fromWKD = len(keys) > 0
	}
	if len(keys) == 0 {
		return fail(mime.StatusNeutral, fmt.Sprintf("no public key %016X", keyID))
	}
	var verr error
	for _, key := range keys {
		if rk, ok := key.PublicKey.PublicKey.(*rsa.PublicKey); ok && rk.N.BitLen() > v.o.MaxRSABits {
			verr = fmt.Errorf("RSA key of %d bits, more than %d", rk.N.BitLen(), v.o.MaxRSABits)
			continue
		}
		hh, err := h.clone(sig.Hash)
		if err != nil {
			if sig.Hash == crypto.SHA1 {
				return fail(mime.StatusPolicy, "SHA-1 signatures are not accepted")
			}
			return fail(mime.StatusPermerror, err.Error())
		}
		if verr = key.PublicKey.VerifySignature(hh, sig); verr == nil {
			r = v.checkKey(r, key, sig, from)
			if fromWKD && r.Reason == "" {
				r.Reason = "key from WKD"
			}
			return r
		}
	}
	return fail(mime.StatusFail, "bad signature: "+verr.Error())
}

// byAddress finds the signing keys with keyID that ByAddress publishes
// for the first MaxAddressLookups From addresses.
func (v *Verifier) byAddress(ctx context.Context, keyID uint64, from []string) ([]pgp.Key, error) {
	for i, addr := range from {
		if i == v.o.MaxAddressLookups {
			break
		}
		el, err := v.o.ByAddress.KeysFor(ctx, addr)
		if err != nil {
			return nil, err
		}
		if keys := el.KeysByIdUsage(keyID, packet.KeyFlagSign); len(keys) > 0 {
			return keys, nil
		}
	}
	return nil, nil
}

// checkKey finishes a result whose signature verified with key: what the
// library leaves to the caller (RFC 9580 §5.2.3.10, §5.2.3.13, §5.2.3.23).
func (v *Verifier) checkKey(r mime.Result, key pgp.Key, sig *packet.Signature, from []string) mime.Result {
	now := v.o.Now()
	e := key.Entity
	r.Fingerprint = strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	r.Identifier = identifier(e, from, now)
	self, _ := e.PrimarySelfSignature()
	bySubkey := key.PublicKey != e.PrimaryKey
	switch {
	case e.Revoked(now) || (bySubkey && key.Revoked(now)):
		r.Result, r.Reason = mime.StatusFail, "key revoked"
	case e.PrimaryKey.KeyExpired(self, now) || (bySubkey && key.PublicKey.KeyExpired(key.SelfSignature, now)):
		r.Result, r.Reason = mime.StatusPolicy, "key expired"
	case sig.SigExpired(now):
		r.Result, r.Reason = mime.StatusPolicy, "signature expired"
	case sig.CreationTime.After(now.Add(24 * time.Hour)):
		r.Result, r.Reason = mime.StatusPolicy, "signature made in the future"
	case weakRSA(key, v.o.MinRSABits):
		r.Result, r.Reason = mime.StatusPolicy, fmt.Sprintf("RSA key of fewer than %d bits", v.o.MinRSABits)
	case fromAddress(e, from, now) == "":
		r.Result, r.Reason = mime.StatusPolicy, "no valid user ID names the From address"
	default:
		r.Result = mime.StatusPass
	}
	return r
}

func weakRSA(key pgp.Key, minBits int) bool {
	rk, ok := key.PublicKey.PublicKey.(*rsa.PublicKey)
	return ok && rk.N.BitLen() < minBits
}

// fromAddress returns the From address that a user ID of e that is not
// revoked names, or "".
func fromAddress(e *pgp.Entity, from []string, now time.Time) string {
	for _, id := range e.Identities {
		if id.UserId == nil || id.Revoked(now) {
			continue
		}
		for _, f := range from {
			if strings.EqualFold(id.UserId.Email, f) {
				return f
			}
		}
	}
	return ""
}

// identifier is the user ID address reported: the From address a user ID
// names, or the primary user ID's address.
func identifier(e *pgp.Entity, from []string, now time.Time) string {
	if f := fromAddress(e, from, now); f != "" {
		return f
	}
	if id := e.PrimaryIdentity(); id != nil && id.UserId != nil {
		return strings.ToLower(id.UserId.Email)
	}
	return ""
}

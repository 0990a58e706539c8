package smime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/internal/fetch"
	"github.com/authmilter/authmilter/auth/internal/ttlcache"
	"golang.org/x/crypto/ocsp"
)

// OCSPOptions configure an OCSP. Zero values take the defaults.
type OCSPOptions struct {
	// Client makes the requests (default: a plain http.Client). Redirects
	// are limited to 3.
	Client *http.Client
	// Timeout bounds one check (default 5s).
	Timeout time.Duration
	// MaxResponseBytes bounds a response (default 64 KiB).
	MaxResponseBytes int64
	// MaxEntries bounds the answers kept (default 1000); MaxAge how long
	// one is kept when its nextUpdate is later or absent (default 24h).
	MaxEntries int
	MaxAge     time.Duration
	// Fallback checks a certificate that names no HTTP OCSP responder
	// (e.g. CRLs); nil leaves it unchecked.
	Fallback RevocationChecker
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// OCSP is a RevocationChecker asking the OCSP responder that the
// certificate's authority information access names (RFC 6960, over HTTP
// POST as in its Appendix A.1). A response must be signed by the issuer or
// a responder it delegated (checked by golang.org/x/crypto/ocsp) and be
// current; it is kept until its nextUpdate (at most MaxAge). "good" is not
// revoked, "revoked" is ErrRevoked, "unknown" a failed check. It is safe
// for concurrent use.
type OCSP struct {
	o      OCSPOptions
	client *http.Client
	cache  *ttlcache.Cache[ocspEntry]
}

type ocspEntry struct {
	revoked bool
	expires time.Time
}

// NewOCSP returns an OCSP.
func NewOCSP(o OCSPOptions) *OCSP {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 64 << 10
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1000
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &OCSP{o: o, client: fetch.Client(o.Client, 3, false), cache: ttlcache.New[ocspEntry](o.MaxEntries)}
}

// Check asks the certificate's first HTTP OCSP responder.
func (o *OCSP) Check(ctx context.Context, cert, issuer *x509.Certificate) error {
	var url string
	for _, u := range cert.OCSPServer {
		if l := strings.ToLower(u); strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			url = u
			break
		}
	}
	if url == "" {
		if o.o.Fallback != nil {
			return o.o.Fallback.Check(ctx, cert, issuer)
		}
		return nil
	}
	sum := sha256.Sum256(issuer.Raw)
	key := hex.EncodeToString(sum[:]) + "/" + cert.SerialNumber.Text(16)
	now := o.o.Now()
	e, ok := o.cache.Get(key, now)
	if !ok {
		var err error
		if e, err = o.ask(ctx, url, cert, issuer, now); err != nil {
			return fmt.Errorf("OCSP %s: %w", url, err)
		}
		o.cache.Put(key, e, e.expires, now)
	}
	if e.revoked {
		return fmt.Errorf("%w (OCSP %s)", ErrRevoked, url)
	}
	return nil
}

func (o *OCSP) ask(ctx context.Context, url string, cert, issuer *x509.Certificate, now time.Time) (ocspEntry, error) {
	der, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return ocspEntry{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(der))
	if err != nil {
		return ocspEntry{}, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	body, err := fetch.Do(o.client, req, o.o.MaxResponseBytes)
	if err != nil {
		return ocspEntry{}, err
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return ocspEntry{}, err
	}
	// RFC 6960 §4.2.2.1 (thisUpdate not in the future, with 5 minutes of
	// clock skew; nextUpdate not passed) and §3.2.
	switch {
	case r.ThisUpdate.After(now.Add(5 * time.Minute)):
		return ocspEntry{}, errors.New("response from the future")
	case !r.NextUpdate.IsZero() && !now.Before(r.NextUpdate):
		return ocspEntry{}, errors.New("response out of date")
	}
	expires := now.Add(o.o.MaxAge)
	if !r.NextUpdate.IsZero() {
		expires = minTime(expires, r.NextUpdate)
	}
	switch r.Status {
	case ocsp.Good:
		return ocspEntry{expires: expires}, nil
	case ocsp.Revoked:
		return ocspEntry{revoked: true, expires: expires}, nil
	}
	return ocspEntry{}, errors.New("the responder does not know the certificate")
}

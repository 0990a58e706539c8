package smime

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/internal/fetch"
	"github.com/authmilter/authmilter/auth/internal/ttlcache"
)

// RevocationChecker says whether a signer certificate is revoked.
type RevocationChecker interface {
	// Check checks cert, issued by issuer: an error wrapping ErrRevoked
	// when it is revoked, nil when it is not or when it names no way to
	// check, another error when the check failed and may work later.
	Check(ctx context.Context, cert, issuer *x509.Certificate) error
}

// ErrRevoked is the answer that a certificate is revoked.
var ErrRevoked = errors.New("smime: certificate revoked")

// CRLOptions configure a CRLs. Zero values take the defaults.
type CRLOptions struct {
	// Client fetches the CRLs (default: a plain http.Client). Redirects
	// are limited to 3.
	Client *http.Client
	// Timeout bounds one check (default 5s).
	Timeout time.Duration
	// MaxCRLBytes bounds one CRL (default 8 MiB); a larger one cannot be
	// used, which is a failed check.
	MaxCRLBytes int64
	// MaxEntries bounds the CRLs kept (default 64); MaxAge how long one is
	// kept when its nextUpdate is later or absent (default 24h).
	MaxEntries int
	MaxAge     time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// CRLs is a RevocationChecker over the certificate's CRL distribution
// points (RFC 5280 §4.2.1.13) fetched by HTTP (RFC 5280 §4.2.1.13 names
// DER over HTTP; ldap and other schemes are skipped). A CRL is kept until
// its nextUpdate (RFC 5280 §5.1.2.5), at most MaxAge. Only CRLs signed by
// the certificate's issuer are used (RFC 5280 §6.3.3 (f)); indirect and
// delta CRLs are not. It is safe for concurrent use.
type CRLs struct {
	o      CRLOptions
	client *http.Client
	cache  *ttlcache.Cache[*crlEntry]
}

type crlEntry struct {
	issuerRaw []byte              // RawSubject of the CA that signed it
	revoked   map[string]struct{} // serial numbers, hexadecimal
	expires   time.Time
}

// NewCRLs returns a CRLs.
func NewCRLs(o CRLOptions) *CRLs {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxCRLBytes <= 0 {
		o.MaxCRLBytes = 8 << 20
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 64
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &CRLs{o: o, client: fetch.Client(o.Client, 3, false), cache: ttlcache.New[*crlEntry](o.MaxEntries)}
}

// Check checks cert against the first of its HTTP distribution points that
// answers with a usable CRL.
func (c *CRLs) Check(ctx context.Context, cert, issuer *x509.Certificate) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var errs []error
	for _, u := range cert.CRLDistributionPoints {
		if !strings.HasPrefix(strings.ToLower(u), "http://") && !strings.HasPrefix(strings.ToLower(u), "https://") {
			continue
		}
		e, err := c.crl(ctx, u, issuer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := e.revoked[cert.SerialNumber.Text(16)]; ok {
			return fmt.Errorf("%w (CRL %s)", ErrRevoked, u)
		}
		return nil
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// crl returns the CRL at u, from the cache or fetched.
func (c *CRLs) crl(ctx context.Context, u string, issuer *x509.Certificate) (*crlEntry, error) {
	now := c.o.Now()
	if e, ok := c.cache.Get(u, now); ok && string(e.issuerRaw) == string(issuer.RawSubject) {
		return e, nil
	}
	e, err := c.fetch(ctx, u, issuer, now)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", u, err)
	}
	c.cache.Put(u, e, e.expires, now)
	return e, nil
}

func (c *CRLs) fetch(ctx context.Context, u string, issuer *x509.Certificate, now time.Time) (*crlEntry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	der, err := fetch.Do(c.client, req, c.o.MaxCRLBytes)
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("not signed by the issuer: %w", err)
	}
	expires := now.Add(c.o.MaxAge)
	if !crl.NextUpdate.IsZero() {
		if !now.Before(crl.NextUpdate) {
			return nil, fmt.Errorf("out of date (nextUpdate %s)", crl.NextUpdate.UTC().Format(time.RFC3339))
		}
		expires = minTime(expires, crl.NextUpdate)
	}
	e := &crlEntry{issuerRaw: issuer.RawSubject, revoked: make(map[string]struct{}, len(crl.RevokedCertificateEntries)), expires: expires}
	for _, r := range crl.RevokedCertificateEntries {
		if r.SerialNumber != nil {
			e.revoked[r.SerialNumber.Text(16)] = struct{}{}
		}
	}
	return e, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

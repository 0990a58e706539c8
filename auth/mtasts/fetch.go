package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// Errors of LookupRecord and Fetch, to tell with errors.Is. The names in
// parentheses are the TLS-RPT failure types (RFC 8460 section 4.3.2.1).
var (
	// ErrNoRecord: no usable _mta-sts record, so no MTA-STS for the
	// domain (RFC 8461 section 3.1).
	ErrNoRecord = errors.New("mtasts: no record")
	// ErrDNS: the record could not be looked up (temporary DNS failure).
	ErrDNS = errors.New("mtasts: dns lookup failed")
	// ErrFetch: the policy could not be fetched: network, HTTP status,
	// content type, size (sts-policy-fetch-error).
	ErrFetch = errors.New("mtasts: policy fetch failed")
	// ErrWebPKI: the policy host's certificate did not validate
	// (sts-webpki-invalid).
	ErrWebPKI = errors.New("mtasts: policy host certificate invalid")
)

// FailureType is the TLS-RPT result type for an error of this package
// (RFC 8460 section 4.3.2.1), or "" for none.
func FailureType(err error) string {
	switch {
	case errors.Is(err, ErrWebPKI):
		return "sts-webpki-invalid"
	case errors.Is(err, ErrInvalid):
		return "sts-policy-invalid"
	case errors.Is(err, ErrFetch):
		return "sts-policy-fetch-error"
	}
	return ""
}

// TXTResolver is what LookupRecord needs of a resolver (auth/dns's
// Resolver has it).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// LookupRecord looks up the _mta-sts TXT record of domain (RFC 8461
// section 3.1): records not starting with "v=STSv1" are ignored, and
// unless exactly one is left and it parses, the domain has no policy
// (ErrNoRecord). A temporary DNS failure is ErrDNS.
func LookupRecord(ctx context.Context, r TXTResolver, domain string) (Record, error) {
	txts, err := r.LookupTXT(ctx, "_mta-sts."+domain)
	switch {
	case dns.IsNotFound(err):
		return Record{}, fmt.Errorf("%w: _mta-sts.%s: %v", ErrNoRecord, domain, err)
	case err != nil:
		return Record{}, fmt.Errorf("%w: _mta-sts.%s: %v", ErrDNS, domain, err)
	}
	var recs []Record
	var bad error
	for _, t := range txts {
		rec, isSTS, err := ParseRecord(t)
		if !isSTS {
			continue
		}
		if err != nil {
			bad = err
		}
		recs = append(recs, rec)
	}
	switch {
	case len(recs) == 0:
		return Record{}, fmt.Errorf("%w: _mta-sts.%s has no v=STSv1 record", ErrNoRecord, domain)
	case len(recs) > 1:
		return Record{}, fmt.Errorf("%w: _mta-sts.%s has %d v=STSv1 records", ErrNoRecord, domain, len(recs))
	case bad != nil:
		return Record{}, fmt.Errorf("%w: _mta-sts.%s: %v", ErrNoRecord, domain, bad)
	}
	return recs[0], nil
}

// Fetcher fetches policy files over HTTPS.
type Fetcher struct {
	client *http.Client
}

// FetchTimeout bounds a fetch when the context has no earlier deadline
// (RFC 8461 section 3.3 suggests at most a minute).
const FetchTimeout = 30 * time.Second

// NewFetcher returns a Fetcher using client's transport (its TLS
// configuration decides which CAs are trusted; nil: http.DefaultTransport,
// the system's roots). Redirects are never followed (RFC 8461 section 3.3),
// whatever client says.
func NewFetcher(client *http.Client) *Fetcher {
	c := &http.Client{}
	if client != nil {
		*c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Timeout == 0 {
		c.Timeout = FetchTimeout
	}
	return &Fetcher{client: c}
}

// PolicyURL is where a domain's policy is (RFC 8461 section 3.2).
func PolicyURL(domain string) string {
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// Fetch gets and parses domain's policy (RFC 8461 section 3.3): HTTPS
// with a certificate valid for mta-sts.DOMAIN, status 200, no redirect,
// media type text/plain, at most MaxPolicyBytes. It returns the policy
// and its text; errors wrap ErrFetch, ErrWebPKI or ErrInvalid.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (Policy, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, PolicyURL(domain), nil)
	if err != nil {
		return Policy{}, "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if isCertError(err) {
			return Policy{}, "", fmt.Errorf("%w: %v", ErrWebPKI, err)
		}
		return Policy{}, "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, "", fmt.Errorf("%w: %s: HTTP status %s", ErrFetch, req.URL, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return Policy{}, "", fmt.Errorf("%w: %s: content type %q, not text/plain", ErrFetch, req.URL, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicyBytes+1))
	if err != nil {
		return Policy{}, "", fmt.Errorf("%w: %s: %v", ErrFetch, req.URL, err)
	}
	if len(body) > MaxPolicyBytes {
		return Policy{}, "", fmt.Errorf("%w: %s: over %d bytes", ErrFetch, req.URL, MaxPolicyBytes)
	}
	p, err := ParsePolicy(string(body))
	if err != nil {
		return Policy{}, "", err
	}
	return p, string(body), nil
}

// isCertError reports whether err is a failed certificate check.
func isCertError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	var ne net.Error
	return !errors.As(err, &ne) && strings.Contains(err.Error(), "x509:")
}

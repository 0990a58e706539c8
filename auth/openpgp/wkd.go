package openpgp

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/authmilter/authmilter/auth/internal/fetch"
	"github.com/authmilter/authmilter/auth/internal/ttlcache"
)

// AddressKeySource finds the public keys of a mail address, for a
// signature whose key the KeySource does not hold.
type AddressKeySource interface {
	// KeysFor returns the keys published for address whose user IDs name
	// it. No key is (nil, nil); an error means the lookup failed and may
	// work later.
	KeysFor(ctx context.Context, address string) (pgp.EntityList, error)
}

// WKDOptions configure a WKD. Zero values take the defaults.
type WKDOptions struct {
	// Client makes the HTTPS requests (default: one with the system's
	// TLS roots that connects to public addresses only, see
	// publicAddress). Its CheckRedirect is replaced: at most MaxRedirects
	// redirects, to https URLs only.
	Client *http.Client
	// Timeout bounds one address's lookup, both methods (default 5s).
	Timeout time.Duration
	// MaxKeyBytes bounds a response body (default 64 KiB); a larger one
	// is no key.
	MaxKeyBytes int64
	// MaxRedirects bounds the redirects followed (default 3).
	MaxRedirects int
	// FoundTTL and NotFoundTTL keep answers (default 1h and 10m);
	// temporary failures are not kept. MaxEntries bounds the cache
	// (default 1000).
	FoundTTL, NotFoundTTL time.Duration
	MaxEntries            int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// WKD is an AddressKeySource over the OpenPGP Web Key Directory
// (draft-koch-openpgp-webkey-service §3.1): the advanced method
// https://openpgpkey.<domain>/.well-known/openpgpkey/<domain>/hu/<hash>,
// then the direct method https://<domain>/.well-known/openpgpkey/hu/<hash>,
// <hash> being the z-base-32 SHA-1 of the lower-cased local part. A key is
// used only when one of its user IDs is the address (§3.1). It is safe for
// concurrent use.
type WKD struct {
	o      WKDOptions
	client *http.Client
	cache  *ttlcache.Cache[pgp.EntityList]
}

// NewWKD returns a WKD.
func NewWKD(o WKDOptions) *WKD {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxKeyBytes <= 0 {
		o.MaxKeyBytes = 64 << 10
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 3
	}
	if o.FoundTTL <= 0 {
		o.FoundTTL = time.Hour
	}
	if o.NotFoundTTL <= 0 {
		o.NotFoundTTL = 10 * time.Minute
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	base := o.Client
	if base == nil {
		base = &http.Client{Transport: publicTransport()}
	}
	return &WKD{o: o, client: fetch.Client(base, o.MaxRedirects, true), cache: ttlcache.New[pgp.EntityList](o.MaxEntries)}
}

// publicTransport is http.DefaultTransport's settings with a dialer that
// connects to public addresses only: the host names come from mail, so a
// sender must not make the milter fetch from the loopback or the internal
// network (the name openpgpkey.<domain> may resolve to any address).
func publicTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: publicAddress}
	t.DialContext = d.DialContext
	return t
}

// publicAddress refuses a connection to a loopback, private (RFC 1918,
// RFC 4193), link-local, multicast or unspecified address.
func publicAddress(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return fmt.Errorf("%w: %s", errNotPublic, ip)
	}
	return nil
}

var errNotPublic = errors.New("openpgp: WKD host has a non-public address")

var zbase32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// WKDHash returns the z-base-32 SHA-1 of a local part, ASCII letters
// lower-cased (draft-koch-openpgp-webkey-service §3.1).
func WKDHash(local string) string {
	sum := sha1.Sum([]byte(asciiLower(local)))
	return zbase32.EncodeToString(sum[:])
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// WKDURLs returns the advanced and the direct method's URLs for address.
func WKDURLs(address string) (advanced, direct string, err error) {
	i := strings.LastIndexByte(address, '@')
	if i <= 0 || i == len(address)-1 {
		return "", "", fmt.Errorf("openpgp: %q is not a mail address", address)
	}
	local, domain := address[:i], strings.ToLower(address[i+1:])
	if strings.ContainsAny(domain, "/?#%:[]@\\ ") {
		return "", "", fmt.Errorf("openpgp: %q is not a mail domain", domain)
	}
	h, q := WKDHash(local), url.QueryEscape(local)
	advanced = "https://openpgpkey." + domain + "/.well-known/openpgpkey/" + domain + "/hu/" + h + "?l=" + q
	direct = "https://" + domain + "/.well-known/openpgpkey/hu/" + h + "?l=" + q
	return advanced, direct, nil
}

// KeysFor looks address up, from the cache or by WKD.
func (w *WKD) KeysFor(ctx context.Context, address string) (pgp.EntityList, error) {
	key := strings.ToLower(address)
	now := w.o.Now()
	if keys, ok := w.cache.Get(key, now); ok {
		return keys, nil
	}
	keys, err := w.lookup(ctx, address)
	if err != nil {
		return nil, err
	}
	ttl := w.o.FoundTTL
	if len(keys) == 0 {
		ttl = w.o.NotFoundTTL
	}
	w.cache.Put(key, keys, now.Add(ttl), now)
	return keys, nil
}

// errNotFound is an answer that there is no key (HTTP 404, or no such
// openpgpkey host for the advanced method).
var errNotFound = errors.New("no key published")

// lookup tries the advanced method, then the direct one
// (draft-koch-openpgp-webkey-service §3.1). Only when neither finds a
// key and one failed for a reason that may pass is it an error.
func (w *WKD) lookup(ctx context.Context, address string) (pgp.EntityList, error) {
	adv, direct, err := WKDURLs(address)
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	keys, aerr := w.get(ctx, adv, address)
	if aerr == nil {
		return keys, nil
	}
	if unreachable(aerr) {
		// No openpgpkey host: the direct method is the domain's choice.
		aerr = errNotFound
	}
	keys, derr := w.get(ctx, direct, address)
	if unreachable(derr) {
		// No web server for the domain: no key published.
		derr = errNotFound
	}
	switch {
	case derr == nil:
		return keys, nil
	case errors.Is(aerr, errNotFound) && errors.Is(derr, errNotFound):
		return nil, nil
	case !errors.Is(derr, errNotFound):
		return nil, fmt.Errorf("WKD: %w", derr)
	}
	return nil, fmt.Errorf("WKD: %w", aerr)
}

// unreachable reports whether a method's host does not exist or refuses
// connections: that method is not used (draft-koch-openpgp-webkey-service
// §3.1), which is not a failure that may pass.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial" && !opErr.Timeout()
}

// get fetches one URL: the keys of its 200 answer that name address,
// errNotFound for a 404 or an answer without such a key.
func (w *WKD) get(ctx context.Context, u, address string) (pgp.EntityList, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	body, err := fetch.Do(w.client, req, w.o.MaxKeyBytes)
	var status *fetch.StatusError
	var large *fetch.TooLargeError
	switch {
	case errors.As(err, &status) && (status.Code == http.StatusNotFound || status.Code == http.StatusGone):
		return nil, errNotFound
	case errors.As(err, &status):
		return nil, fmt.Errorf("%s: %w", u, err)
	case errors.As(err, &large):
		return nil, fmt.Errorf("%w: %s: key %v", errNotFound, u, err)
	case err != nil:
		return nil, err
	}
	keys, err := parseWKDKey(body, address)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errNotFound, u, err)
	}
	return keys, nil
}

// maxWKDEntities bounds the keys one answer may hold.
const maxWKDEntities = 4

// parseWKDKey reads a WKD answer (binary, as the draft says, or armored)
// and keeps the keys with a user ID that is address.
func parseWKDKey(b []byte, address string) (el pgp.EntityList, err error) {
	defer func() {
		if p := recover(); p != nil {
			el, err = nil, fmt.Errorf("OpenPGP parser failed: %v", p)
		}
	}()
	all, err := ReadKeyring(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if len(all) > maxWKDEntities {
		return nil, fmt.Errorf("%d keys, more than %d", len(all), maxWKDEntities)
	}
	for _, e := range all {
		for _, id := range e.Identities {
			if id.UserId != nil && strings.EqualFold(id.UserId.Email, address) {
				el = append(el, e)
				break
			}
		}
	}
	if len(el) == 0 {
		return nil, errors.New("no user ID names the address")
	}
	return el, nil
}

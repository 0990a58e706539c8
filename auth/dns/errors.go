package dns

import (
	"errors"
	"net"
)

// Sentinel causes carried in (*net.DNSError).UnwrapErr, so that callers can
// tell them apart with errors.Is while go-msgauth, which type-asserts on
// *net.DNSError, still sees an unwrapped *net.DNSError.
var (
	// ErrNXDomain: the name does not exist (RCODE 3).
	ErrNXDomain = errors.New("dns: no such host")
	// ErrNoData: the name exists but has no record of the asked type.
	ErrNoData = errors.New("dns: no such record")
	// ErrServFail: the server answered SERVFAIL.
	ErrServFail = errors.New("dns: server failure")
	// ErrRefused: the server answered REFUSED.
	ErrRefused = errors.New("dns: query refused")
	// ErrTimeout: no answer within the configured time and attempts.
	ErrTimeout = errors.New("dns: timeout")
	// ErrNetwork: sending or receiving failed (connection refused, ...).
	ErrNetwork = errors.New("dns: network error")
	// ErrMalformed: a permanent failure: bad name, FORMERR, NOTIMP,
	// an answer that does not match the question, a CNAME loop.
	ErrMalformed = errors.New("dns: permanent failure")
)

// newError builds the *net.DNSError for a cause. Exactly one classification
// holds: not found (NXDOMAIN, NODATA), temporary (timeout, SERVFAIL, REFUSED,
// network), or permanent (everything else).
func newError(cause error, name, server string) *net.DNSError {
	e := &net.DNSError{Err: cause.Error(), Name: name, Server: server, UnwrapErr: cause}
	switch cause {
	case ErrNXDomain, ErrNoData:
		e.IsNotFound = true
	case ErrTimeout:
		e.IsTimeout = true
		e.IsTemporary = true
	case ErrServFail, ErrRefused, ErrNetwork:
		e.IsTemporary = true
	}
	return e
}

// NewError is newError for fakes in other packages' tests: it returns the
// same *net.DNSError the resolver would return for that cause.
func NewError(cause error, name string) error { return newError(cause, name, "") }

// IsNotFound reports whether err says the name or the record does not exist
// (NXDOMAIN or NODATA).
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsNXDomain reports whether err says the name itself does not exist.
func IsNXDomain(err error) bool { return errors.Is(err, ErrNXDomain) }

// IsTemporary reports whether err is a transient failure (timeout, SERVFAIL,
// REFUSED, network error, or the caller's context ending).
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return false
}

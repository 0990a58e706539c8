package dns

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel causes carried in (*net.DNSError).UnwrapErr, so that callers can
// tell them apart with errors.Is while go-msgauth, which type-asserts on
// *net.DNSError, still sees an unwrapped *net.DNSError.
var (
	// ErrTemporary matches, with errors.Is, every temporary cause below
	// (ErrServFail, ErrRefused, ErrTimeout, ErrNetwork, ErrBadAnswer) and
	// the error of a lookup whose context ended.
	ErrTemporary = errors.New("dns: temporary failure")
	// ErrNXDomain: the name does not exist (RCODE 3).
	ErrNXDomain = errors.New("dns: no such host")
	// ErrNoData: the name exists but has no record of the asked type.
	ErrNoData = errors.New("dns: no such record")
	// ErrServFail: the server answered SERVFAIL. Temporary.
	ErrServFail error = &temporary{"dns: server failure"}
	// ErrRefused: the server answered REFUSED. Temporary.
	ErrRefused error = &temporary{"dns: query refused"}
	// ErrTimeout: no answer within the configured time and attempts.
	// Temporary.
	ErrTimeout error = &temporary{"dns: timeout"}
	// ErrNetwork: sending or receiving failed (connection refused, ...).
	// Temporary.
	ErrNetwork error = &temporary{"dns: network error"}
	// ErrBadAnswer: an answer we cannot use: another RCODE than NOERROR,
	// NXDOMAIN, SERVFAIL or REFUSED (FORMERR, NOTIMP, ...), a question
	// that does not match ours, a CNAME loop or a chain past the bound, a
	// message that does not parse, a TCP answer with another ID. Temporary:
	// the record may well exist, so it never reads as "no record". The
	// error text tells which.
	ErrBadAnswer error = &temporary{"dns: bad answer"}
	// ErrMalformed: a name or type that cannot be asked (an empty label,
	// over 63 or 253 octets, an unsupported type); no query is sent. The
	// only permanent failure: no such name can hold records.
	ErrMalformed = errors.New("dns: malformed name")
)

// temporary is a cause that errors.Is matches with ErrTemporary.
type temporary struct{ msg string }

func (e *temporary) Error() string        { return e.msg }
func (e *temporary) Is(target error) bool { return target == ErrTemporary }

// badAnswer is ErrBadAnswer with what was wrong.
func badAnswer(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadAnswer}, args...)...)
}

// newError builds the *net.DNSError for a cause (one of the sentinels, maybe
// wrapped). Exactly one classification holds: not found (NXDOMAIN, NODATA),
// temporary (ErrTemporary), or permanent (ErrMalformed).
func newError(cause error, name, server string) *net.DNSError {
	e := &net.DNSError{Err: cause.Error(), Name: name, Server: server, UnwrapErr: cause}
	switch {
	case cause == ErrNXDomain, cause == ErrNoData:
		e.IsNotFound = true
	case errors.Is(cause, ErrTimeout):
		e.IsTimeout = true
		e.IsTemporary = true
	case errors.Is(cause, ErrTemporary):
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
// REFUSED, network error, bad answer, or the caller's context ending).
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return errors.Is(err, ErrTemporary)
}

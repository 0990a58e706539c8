package dmarc

import "errors"

// Errors returned by AuthorDomains. They are distinct outcomes that local
// policy decides (RFC 9989 §4.2, §4.4: a broken From is outside DMARC).
var (
	// ErrNoFrom: the message has no From field.
	ErrNoFrom = errors.New("dmarc: no From field")
	// ErrMultipleFrom: the message has more than one From field.
	ErrMultipleFrom = errors.New("dmarc: several From fields")
	// ErrMalformedFrom: the From field does not parse as a mailbox list,
	// has no mailbox, or a mailbox has no usable domain.
	ErrMalformedFrom = errors.New("dmarc: malformed From field")
)

// ErrInvalidRecord is returned by ParseRecord for text that is not a DMARC
// record (no leading v=DMARC1 tag).
var ErrInvalidRecord = errors.New("dmarc: not a DMARC record")

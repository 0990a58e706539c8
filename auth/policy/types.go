package policy

import (
	"fmt"
	"strings"
)

// Action is what happens to a message. As a configuration value it is
// checked when decoded: a file naming another action is refused at its key.
type Action string

// Actions.
const (
	Accept     Action = "accept"
	Reject     Action = "reject"
	Quarantine Action = "quarantine"
	Tempfail   Action = "tempfail"
)

func (a Action) valid() bool {
	switch a {
	case Accept, Reject, Quarantine, Tempfail:
		return true
	}
	return false
}

// UnmarshalText accepts only the four actions (the TOML decoder calls it,
// and names the key in its error).
func (a *Action) UnmarshalText(b []byte) error {
	if v := Action(b); v.valid() {
		*a = v
		return nil
	}
	return fmt.Errorf("%q is not one of accept, reject, quarantine, tempfail", b)
}

// QuarantineMode says how a quarantine is carried out.
type QuarantineMode string

// Quarantine modes.
const (
	// QuarantineMilter asks the MTA to quarantine (Postfix's hold queue,
	// Sendmail's quarantine).
	QuarantineMilter QuarantineMode = "milter"
	// QuarantineHeader delivers with an added header for the mail store
	// to file the message as spam.
	QuarantineHeader QuarantineMode = "header"
	// QuarantineAccept delivers unchanged.
	QuarantineAccept QuarantineMode = "accept"
)

func (q QuarantineMode) valid() bool {
	switch q {
	case QuarantineMilter, QuarantineHeader, QuarantineAccept:
		return true
	}
	return false
}

// UnmarshalText accepts only the three modes.
func (q *QuarantineMode) UnmarshalText(b []byte) error {
	if v := QuarantineMode(b); v.valid() {
		*q = v
		return nil
	}
	return fmt.Errorf("%q is not one of milter, header, accept", b)
}

// Result is the DMARC result of one Author Domain, in the words of RFC
// 8601 §2.7.1 and RFC 9989 §4.8. The caller converts its own.
type Result string

// DMARC results; "" counts as none.
const (
	ResultNone      Result = "none"
	ResultPass      Result = "pass"
	ResultFail      Result = "fail"
	ResultTemperror Result = "temperror"
	ResultPermerror Result = "permerror"
)

// DomainPolicy is the policy in force for an Author Domain, after p=, sp=,
// np= and t=y (RFC 9989 §4.7, §5.3.1).
type DomainPolicy string

// Domain policies.
const (
	PolicyNone       DomainPolicy = "none"
	PolicyQuarantine DomainPolicy = "quarantine"
	PolicyReject     DomainPolicy = "reject"
)

// FromError says why a message's From field cannot be used (RFC 5322
// §3.6: exactly one From; RFC 9989 §4.2, §4.4); FromOK when it can.
type FromError string

// From errors.
const (
	FromOK        FromError = ""
	FromMissing   FromError = "missing"
	FromMultiple  FromError = "multiple"
	FromMalformed FromError = "malformed" // also any other non-empty value
)

// Reply is an SMTP reply: a basic code (RFC 5321 §4.2), an enhanced status
// code (RFC 3463 §2) and a one-line text. The configuration gives each part
// as its own key (reject_code, reject_enhanced, reject_text), so a Reply is
// assembled from the keys (Config.RejectReply, ...) and checked as a whole
// by check.
type Reply struct {
	Code     string // "550"
	Enhanced string // "5.7.1"
	Text     string // "{domain}" or "%s" become the Author Domain, where it has one
}

// check says what is wrong with each part of r as a reply of class ("4"
// or "5"), "" for a good part; an empty Text is not checked. withDomain:
// the text may hold {domain}.
func (r Reply) check(class string, withDomain bool) (code, enhanced, text string) {
	if !reCode.MatchString(r.Code) || r.Code[:1] != class {
		code = fmt.Sprintf("%q is not a %sxx reply code", r.Code, class)
	}
	if !reEnhanced.MatchString(r.Enhanced) || r.Enhanced[:1] != class {
		enhanced = fmt.Sprintf("%q is not a %s.x.y enhanced status code", r.Enhanced, class)
	}
	text = checkText(r.Text, withDomain)
	return code, enhanced, text
}

// checkText says what is wrong with a reply or quarantine text, or "".
func checkText(text string, withDomain bool) string {
	switch p := unknownPlaceholder(text, withDomain); {
	case strings.ContainsAny(text, "\r\n"):
		return "must be one line"
	case p != "" && withDomain:
		return "unknown placeholder " + p + " (only {domain} is replaced)"
	case p != "":
		return "placeholder " + p + " is not replaced in this text"
	}
	return ""
}

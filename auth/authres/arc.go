package authres

import (
	"strconv"
	"strings"
)

// ARCResult is an arc= result (RFC 8617 §10.1; the IANA registry's
// properties header.oldest-pass and smtp.remote-ip).
type ARCResult struct {
	Result string // pass, fail, none
	Reason string // short comment
	// OldestPass is header.oldest-pass: the oldest instance whose AMS
	// still verifies, 0 when all do (RFC 8617 §5.2); -1 to omit.
	OldestPass int
	RemoteIP   string // smtp.remote-ip: the SMTP client's address
}

// AppendARC returns an Authentication-Results value made by Format with
// the arc= result a appended as its last resinfo, folded as Format folds.
func AppendARC(value string, a *ARCResult) string {
	if a == nil {
		return value
	}
	op := ""
	if a.OldestPass >= 0 {
		op = strconv.Itoa(a.OldestPass)
	}
	words := resinfo("arc", a.Result, a.Reason, "header.oldest-pass", op, "smtp.remote-ip", a.RemoteIP)
	if v, ok := strings.CutSuffix(value, "; none"); ok && !strings.Contains(v, ";") {
		value = v // "authserv-id; none": no other result
	}
	return appendResinfo(value, words)
}

package milter

import (
	"strings"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/policy"
)

// reply is a milter response that never makes go-milter replace the handler
// (Continue is always true), so connection state survives a rejected,
// tempfailed or accepted message.
type reply struct{ msg gomilter.Message }

func (r *reply) Response() *gomilter.Message { return &r.msg }
func (r *reply) Continue() bool              { return true }

var (
	replyContinue = &reply{gomilter.Message{Code: byte(gomilter.ActContinue)}}
	replyAccept   = &reply{gomilter.Message{Code: byte(gomilter.ActAccept)}}
	replyTempFail = &reply{gomilter.Message{Code: byte(gomilter.ActTempFail)}}
)

// replyCode is an SMFIR_REPLYCODE response: "550 5.7.1 text".
func replyCode(code, enhanced, text string) *reply {
	var b strings.Builder
	b.WriteString(code)
	b.WriteByte(' ')
	if enhanced != "" {
		b.WriteString(enhanced)
		b.WriteByte(' ')
	}
	b.WriteString(safeText(text))
	b.WriteByte(0)
	return &reply{gomilter.Message{Code: 'y', Data: []byte(b.String())}}
}

// safeText keeps an SMTP reply text to printable ASCII without the
// characters that libmilter and Postfix treat specially ('%' starts a macro
// expansion in some MTAs, CR/LF would start a new reply line).
func safeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 400; i++ {
		c := s[i]
		switch {
		case c == '%':
			b.WriteString("%%")
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// finalReply turns a decision into the end-of-message reply.
func finalReply(d policy.Decision) *reply {
	switch d.Action {
	case policy.Reject:
		return replyCode(orDefault(d.Code, "550"), orDefault(d.Enhanced, "5.7.1"), d.Text)
	case policy.Tempfail:
		return replyCode(orDefault(d.Code, "451"), orDefault(d.Enhanced, "4.7.1"), d.Text)
	default:
		return replyAccept
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Header fields we insert. The session negotiates SMFIP_HDR_LEADSPC
// (OptHeaderLeadingSpace, so that header values arrive with their exact
// whitespace for DKIM simple canonicalisation); the MTA then also writes
// the values we send exactly as given after the colon. So each value
// starts with the one space of "Name: value", and its folds are LF plus
// the continuation line's whitespace, as the MTAs send folds to milters.
const (
	fieldAR         = "Authentication-Results"
	fieldQuarantine = "X-Authmilter-Quarantine"
)

// insertTop inserts fields named name with values vs (as auth formats
// them: no leading space, CRLF folds) at the top of the header, in the
// order given: each goes in at index 0, the last first.
func insertTop(md *gomilter.Modifier, name string, vs ...string) error {
	for i := len(vs) - 1; i >= 0; i-- {
		if err := md.InsertHeader(0, name, arValue(vs[i])); err != nil {
			return err
		}
	}
	return nil
}

// arValue is the inserted value for v, the field value as auth formats
// it (no leading space, CRLF folds): the space, then v with each CRLF
// fold turned into the bare LF that Postfix and Sendmail expect in header
// values from a milter. One allocation.
func arValue(v string) string {
	var b strings.Builder
	b.Grow(1 + len(v))
	b.WriteByte(' ')
	for {
		i := strings.Index(v, "\r\n")
		if i < 0 {
			break
		}
		b.WriteString(v[:i])
		b.WriteByte('\n')
		v = v[i+2:]
	}
	b.WriteString(v)
	return b.String()
}

// quarantineValue is the value of X-Authmilter-Quarantine (quarantine_mode
// "header") for the decision's reason.
func quarantineValue(reason string) string { return " yes (" + safeText(reason) + ")" }

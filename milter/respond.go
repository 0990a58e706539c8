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

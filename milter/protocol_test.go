package milter

import (
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// v6Zone: v6.test passes SPF only for 2001:db8::25 and publishes p=reject.
const v6Zone = `
v6.test.          TXT "v=spf1 ip6:2001:db8::25 -all"
_dmarc.v6.test.   TXT "v=DMARC1; p=reject"
reject.test.      TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test. TXT "v=DMARC1; p=reject"
`

// TestConnectAddressForms: the client address in every form the MTAs send
// in CONNECT (Sendmail's "IPv6:" tag, compressed or full; Postfix's plain
// form) is the client's address: SPF passes for a p=reject domain, the
// message is accepted, and the log names the client.
func TestConnectAddressForms(t *testing.T) {
	env := newTestEnv(t, v6Zone, envOptions{})
	for _, addr := range []string{
		"IPv6:2001:db8::25",
		"IPv6:2001:0db8:0000:0000:0000:0000:0000:0025",
		"2001:db8::25",
		"2001:0db8:0000:0000:0000:0000:0000:0025",
	} {
		s := env.client()
		if _, err := s.Conn("client.example", gomilter.FamilyInet6, 25, addr); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Helo("helo.example"); err != nil {
			t.Fatal(err)
		}
		mods, act := sendMessage(t, s, "a@v6.test", simpleMessage("a@v6.test", "v6"))
		ar := insertedAR(mods)
		if act.Code != gomilter.ActAccept || !strings.Contains(ar, "spf=pass") || !strings.Contains(ar, "dmarc=pass") {
			t.Errorf("connect address %q: action %c, A-R %q; want accept with spf=pass dmarc=pass", addr, act.Code, ar)
		}
		s.Close()
	}
	if n := strings.Count(env.logs.String(), "client=2001:db8::25"); n != 4 {
		t.Errorf("%d log lines with client=2001:db8::25, want 4:\n%s", n, env.logs.String())
	}
}

// TestConnectIPv6Trusted: an IPv6 entry of trusted_networks matches a
// client that Sendmail sends as "IPv6:...": accepted at MAIL.
func TestConnectIPv6Trusted(t *testing.T) {
	env := newTestEnv(t, v6Zone, envOptions{auth: func(c *auth.Config) {
		c.TrustedNetworks = []string{"2001:db8::/32"}
	}})
	s := env.client()
	defer s.Close()
	if _, err := s.Conn("client.example", gomilter.FamilyInet6, 25, "IPv6:2001:db8::99"); err != nil {
		t.Fatal(err)
	}
	act, err := s.Mail("a@reject.test", nil)
	if err != nil || act.Code != gomilter.ActAccept {
		t.Fatalf("MAIL from a trusted IPv6 client: %v, %v; want accept", act, err)
	}
}

// TestConnectAddressNotUnderstood: a TCP client whose address does not
// parse is not evaluated as a client without an address (SPF none): its
// messages get the failure action (tempfail), with a log line.
func TestConnectAddressNotUnderstood(t *testing.T) {
	env := newTestEnv(t, v6Zone, envOptions{})
	s := env.client()
	defer s.Close()
	if _, err := s.Conn("client.example", gomilter.FamilyInet6, 25, "IPv6:2001:db8::zz"); err != nil {
		t.Fatal(err)
	}
	_, act := sendMessage(t, s, "a@v6.test", simpleMessage("a@v6.test", "bad-addr"))
	if act.Code != gomilter.ActReplyCode || act.SMTPCode != 451 {
		t.Errorf("action %c %d, want a 451 reply", act.Code, act.SMTPCode)
	}
	if !strings.Contains(env.logs.String(), "client address not understood") {
		t.Errorf("no log line:\n%s", env.logs.String())
	}
}

// TestEndOfMessageOutOfOrder: end of message without MAIL FROM, and a
// second end of message after a message's reply, are answered tempfail with
// a log line, never accept.
func TestEndOfMessageOutOfOrder(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	_, act, err := s.End()
	if err != nil || act.Code != gomilter.ActTempFail {
		t.Fatalf("end of message without MAIL: %v, %v; want tempfail", act, err)
	}
	_, act = sendMessage(t, s, "a@other.test", simpleMessage("a@other.test", "once"))
	if act.Code != gomilter.ActAccept {
		t.Fatalf("message: action %c, want accept", act.Code)
	}
	_, act, err = s.End()
	if err != nil || act.Code != gomilter.ActTempFail {
		t.Fatalf("second end of message: %v, %v; want tempfail", act, err)
	}
	if n := strings.Count(env.logs.String(), "end of message without a message in progress"); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, env.logs.String())
	}
	// The connection still works.
	if _, act = sendMessage(t, s, "a@other.test", simpleMessage("a@other.test", "again")); act.Code != gomilter.ActAccept {
		t.Fatalf("message after them: action %c, want accept", act.Code)
	}
}

// TestEndOfMessageAfterAcceptAtMail: a message accepted at MAIL FROM
// (trusted client) keeps its accept should the MTA still send its end of
// message; a second end of message is out of order.
func TestEndOfMessageAfterAcceptAtMail(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{auth: func(c *auth.Config) {
		c.TrustedNetworks = []string{"192.0.2.0/24"}
	}})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	if act, err := s.Mail("a@reject.test", nil); err != nil || act.Code != gomilter.ActAccept {
		t.Fatalf("MAIL: %v, %v; want accept", act, err)
	}
	for i, want := range []gomilter.ActionCode{gomilter.ActAccept, gomilter.ActTempFail} {
		if _, act, err := s.End(); err != nil || act.Code != want {
			t.Fatalf("end of message %d: %v, %v; want %c", i+1, act, err, want)
		}
	}
}

// TestHeaderFieldWithNUL: a header packet with a NUL in the value reaches
// the evaluation as a field, with a log line: go-milter v0.5.0 dropped it
// unseen, so a second From field with a NUL went unnoticed while the MTA
// delivered it. Here the message has several From fields (rejected), and a
// single From with a NUL is a malformed From.
func TestHeaderFieldWithNUL(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	for _, c := range []struct {
		name   string
		fields [][2]string
		want   string // in the reply text
	}{
		{"second From with a NUL", [][2]string{{"From", " <a@other.test>"}, {"From", " <ceo@reject.test>\x00x"}}, "more than one From"},
		{"From with a NUL in a quoted string", [][2]string{{"From", " \"A\x00\" <a@other.test>"}}, "malformed From"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := env.client()
			defer s.Close()
			connect(t, s, sessionIP, "helo.test")
			if act, err := s.Mail("a@other.test", nil); err != nil || act.Code != gomilter.ActContinue {
				t.Fatalf("MAIL: %v, %v", act, err)
			}
			for _, f := range c.fields {
				if _, err := s.HeaderField(f[0], f[1]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.HeaderEnd(); err != nil {
				t.Fatal(err)
			}
			_, act, err := s.End()
			if err != nil || act.Code != gomilter.ActReplyCode || act.SMTPCode != 550 || !strings.Contains(act.SMTPText, c.want) {
				t.Fatalf("reply %+v, %v; want 550 ... %s", act, err, c.want)
			}
		})
	}
	if n := strings.Count(env.logs.String(), "malformed header field from the MTA"); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, env.logs.String())
	}
}

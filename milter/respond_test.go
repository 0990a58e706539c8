package milter

import (
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// TestInsertedFieldsStartWithSpace: the session negotiates leading-space
// header values, so the MTA writes what we insert right after the colon.
// Every field we insert must begin with the space of "Name: value" (else
// mail shows "Authentication-Results:mx;"), and an A-R's folds must be LF
// plus a TAB, never CR. The end-to-end tests check the same bytes as
// Postfix and Sendmail deliver them.
func TestInsertedFieldsStartWithSpace(t *testing.T) {
	zone := sessionZone + `
quar.test.          TXT "v=spf1 ip4:198.51.100.1 -all"
_dmarc.quar.test.   TXT "v=DMARC1; p=quarantine"
`
	env := newTestEnv(t, zone, envOptions{auth: func(c *auth.Config) { c.Policy.QuarantineMode = "header" }})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")

	mods, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "pass"))
	if act.Code != gomilter.ActAccept {
		t.Fatalf("action %+v, want accept", act)
	}
	want := " " + testAuthservID + ";\n\tspf=pass (ip4:192.0.2.25 matched) smtp.mailfrom=b@other.test;\n\t" +
		"spf=pass (ip4:192.0.2.25 matched) smtp.helo=helo.test;\n\tdkim=none;\n\t" +
		"dmarc=pass (spf aligned) header.from=other.test policy.dmarc=reject;\n\tx-tls=none"
	if got := insertedAR(mods); got != want {
		t.Errorf("inserted A-R value\n%q, want\n%q", got, want)
	}

	mods, act = sendMessage(t, s, "n@quar.test", simpleMessage("n@quar.test", "quar"))
	if act.Code != gomilter.ActAccept {
		t.Fatalf("quarantine (header mode): action %+v, want accept", act)
	}
	var got []string
	for _, m := range mods {
		if m.Code == gomilter.ActInsertHeader {
			got = append(got, m.HeaderName+":"+m.HeaderValue)
		}
	}
	if len(got) != 2 {
		t.Fatalf("inserted fields %q, want an A-R and X-Authmilter-Quarantine", got)
	}
	if q := got[1]; q != "X-Authmilter-Quarantine: yes (dmarc fail, policy quarantine)" {
		t.Errorf("inserted %q, want %q", q, "X-Authmilter-Quarantine: yes (dmarc fail, policy quarantine)")
	}
	if !strings.HasPrefix(got[0], "Authentication-Results: "+testAuthservID+";\n\t") || strings.Contains(got[0], "\r") {
		t.Errorf("inserted %q", got[0])
	}
}

// TestARValue: the inserted value is the space, then the value with its
// CRLF folds as bare LF (a lone CR or LF stays), in one allocation.
func TestARValue(t *testing.T) {
	for in, want := range map[string]string{
		"":                           " ",
		"mx.example; none":           " mx.example; none",
		"mx;\r\n\tspf=pass\r\n\tx=y": " mx;\n\tspf=pass\n\tx=y",
		"a\rb\nc\r\n":                " a\rb\nc\n",
	} {
		if got := arValue(in); got != want {
			t.Errorf("arValue(%q) = %q, want %q", in, got, want)
		}
	}
	v := "mx.example;\r\n\tspf=pass smtp.mailfrom=a.example;\r\n\tdmarc=pass header.from=a.example"
	if n := testing.AllocsPerRun(100, func() { arValue(v) }); n > 1 {
		t.Errorf("arValue: %.0f allocations, want 1", n)
	}
}

package milter

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// hostileZone: sender.test passes SPF from sessionIP and publishes p=reject.
const hostileZone = `
sender.test.         TXT "v=spf1 ip4:192.0.2.25 -all"
_dmarc.sender.test.  TXT "v=DMARC1; p=reject"
helo.test.           TXT "v=spf1 ip4:192.0.2.25 -all"
`

// TestHostileThroughMilter sends some of the hostile shapes of
// auth/testdata/hostile through a milter session and checks the action and
// that the allocations stay within a generous bound.
func TestHostileThroughMilter(t *testing.T) {
	env := newTestEnv(t, hostileZone, envOptions{auth: func(c *auth.Config) { c.Limits.MaxHeaders = 2000 }})
	from := "From: <a@sender.test>\r\n"
	cases := []struct {
		name string
		msg  string
		// want is the action: 'a' accept, or an SMTP code.
		want int
		ar   string // a substring of the inserted A-R, if any
	}{
		{"10000-headers", from + strings.Repeat("X-H: v\r\n", 10000) + "\r\nbody\r\n", 451, "dmarc=temperror"},
		{"1000-dkim-signatures", from + strings.Repeat("DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=s; h=from; bh=AAAA; b=AAAA\r\n", 1000) + "\r\nbody\r\n",
			'a', "dkim=policy (990 more signatures not verified)"},
		{"900k-header-line", from + "X-Big: " + strings.Repeat("b", 900<<10) + "\r\n\r\nbody\r\n", 'a', "dmarc=pass"},
		{"8bit-quoted-display-name", "From: \"\xc3\x28 \xff\" <a@sender.test>\r\nSubject: \x80\x81\r\n\r\nbody\r\n", 'a', "dmarc=pass"},
		// Unquoted, the invalid UTF-8 makes From unusable.
		{"8bit-bare-display-name", "From: \xc3\x28 \xff <a@sender.test>\r\n\r\nbody\r\n", 550, "dmarc=permerror"},
		// go-milter v0.5.0 drops a header packet whose value holds a NUL
		// (it splits C strings): the only From is then missing.
		{"nul-in-from", "From: <a@sender.test>\x00<b@evil.test>\r\n\r\nbody\r\n", 550, "dmarc=permerror"},
		{"nul-in-subject", from + "Subject: a\x00b\r\n\r\nbody\r\n", 'a', "dmarc=pass"},
		{"folded-5000-lines", from + "X-Fold: a\r\n" + strings.Repeat(" x\r\n", 5000) + "\r\nbody\r\n", 451, "dmarc=temperror"},
		{"from-missing", "Subject: none\r\n\r\nbody\r\n", 550, "dmarc=permerror"},
	}
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			mods, act := sendMessage(t, s, "a@sender.test", []byte(c.msg))
			runtime.ReadMemStats(&after)
			got := int('a')
			switch act.Code {
			case gomilter.ActAccept:
			case gomilter.ActReplyCode:
				got = act.SMTPCode
			default:
				got = int(act.Code)
			}
			ar := insertedAR(mods)
			if got != c.want || !strings.Contains(ar, c.ar) {
				t.Errorf("action %v (%s), want %v; A-R:\n%s", got, act.SMTPText, c.want, ar)
			}
			// Client and server share the process: both count, and
			// go-milter allocates a 4 KB bufio.Writer for every packet it
			// writes, on both sides (10,000 headers: ~80 MB).
			packets := strings.Count(c.msg, "\n")
			if alloc, bound := after.TotalAlloc-before.TotalAlloc, uint64(64<<20+64*len(c.msg)+10<<10*packets); alloc > bound {
				t.Errorf("allocated %d bytes for %d (bound %d)", alloc, len(c.msg), bound)
			}
		})
	}
	t.Run("header-over-packet-limit", func(t *testing.T) {
		// A field larger than milter.max_packet_bytes (1 MiB) ends the
		// milter connection; the MTA applies its milter default action
		// (tempfail).
		s2 := env.client()
		connect(t, s2, sessionIP, "helo.test")
		_, _, err := trySendMessage(s2, "a@sender.test", []byte(from+"X-Huge: "+strings.Repeat("h", 1<<20+10)+"\r\n\r\nbody\r\n"))
		if err == nil {
			t.Error("an over-long header packet was accepted")
		}
		s2.Close()
		waitSessions(t, env.srv, 1)
	})
	if t.Failed() {
		fmt.Println(env.logs.String())
	}
}

package milter

import (
	"fmt"
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// TestAuthservIDFromMTA: with authserv_id unset, the authserv-id is the
// MTA's own name (the j macro sent at connect) when it is fully qualified,
// else the host name; forged fields are found with the same id.
func TestAuthservIDFromMTA(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{auth: func(c *auth.Config) {
		c.AuthservID = ""
		c.HostName = "host.fallback.test"
	}})
	for _, c := range []struct{ j, want string }{
		{"mx.from-j.test", "mx.from-j.test"},
		{"MX2.from-j.test.", "MX2.from-j.test"},
		{"vm", "host.fallback.test"},            // a short name is never used
		{"bad id;x.test", "host.fallback.test"}, // nor one that is no host name
		{"", "host.fallback.test"},              // no j macro at all
	} {
		s := env.client()
		if c.j != "" {
			if err := s.Macros(gomilter.CodeConn, "j", c.j); err != nil {
				t.Fatal(err)
			}
		}
		connect(t, s, sessionIP, "helo.test")
		forged := strings.TrimSuffix(c.want, ".")
		raw := fmt.Sprintf("Authentication-Results: other.example; spf=pass\r\n"+
			"Authentication-Results: %s; dmarc=pass\r\n", strings.ToUpper(forged))
		mods, act := sendMessage(t, s, "b@other.test", append([]byte(raw), simpleMessage("b@other.test", "j")...))
		s.Close()
		if ar := insertedAR(mods); !strings.HasPrefix(ar, " "+c.want+";") {
			t.Errorf("j=%q: A-R %q, want authserv-id %s", c.j, ar, c.want)
		}
		var removed []uint32
		for _, m := range mods {
			if m.Code == gomilter.ActChangeHeader && m.HeaderName == "Authentication-Results" && m.HeaderValue == "" {
				removed = append(removed, m.HeaderIndex)
			}
		}
		if len(removed) != 1 || removed[0] != 2 || act.Code != gomilter.ActAccept {
			t.Errorf("j=%q: removed A-R fields %v (want [2]), action %c", c.j, removed, act.Code)
		}
	}
}

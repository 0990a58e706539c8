package auth_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth"
)

// TestKeepHeaderBytes: the header fields are kept as received, whole, up
// to KeepHeaderBytes, and not at all by default.
func TestKeepHeaderBytes(t *testing.T) {
	hdr := "From: <a@sender.test>\r\nSubject: one\r\n\tfolded\r\nX-Long: " + strings.Repeat("y", 100) + "\r\n"
	for _, c := range []struct {
		keep int
		want string
		cut  bool
	}{
		{0, "", false},
		{1000, hdr, false},
		{60, "From: <a@sender.test>\r\nSubject: one\r\n\tfolded\r\n", true},
	} {
		cfg := auth.DefaultConfig()
		cfg.AuthservID = "mx.limits.test"
		cfg.KeepHeaderBytes = c.keep
		ev, err := auth.New(cfg, limitDNS, nil)
		if err != nil {
			t.Fatal(err)
		}
		env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.25"), Helo: "h.test", MailFrom: "a@sender.test"}
		r, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(hdr+"\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if string(r.RawHeader) != c.want || r.HeaderCut != c.cut {
			t.Errorf("keep %d: RawHeader %q (cut %v), want %q (cut %v)", c.keep, r.RawHeader, r.HeaderCut, c.want, c.cut)
		}
	}
}

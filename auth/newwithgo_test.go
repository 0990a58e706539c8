package auth_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestNewWithGo: with NewWithGo, a message's background work (SPF for MAIL FROM
// and HELO, the DKIM key lookup; the DKIM verifier itself runs on the
// caller's goroutine) runs through
// the given function, and the message is evaluated as without it.
func TestNewWithGo(t *testing.T) {
	_, r := dnstest.StartResolver(t, `reject.test. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test. TXT "v=DMARC1; p=reject"`)
	msg := "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=reject.test; s=sel;\r\n" +
		" h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n" +
		"From: ceo@reject.test\r\nSubject: x\r\n\r\nx\r\n"
	env := auth.Envelope{ClientIP: net.ParseIP("198.51.100.9"), Helo: "client.test", MailFrom: "ceo@reject.test"}
	var want string
	for _, hook := range []bool{false, true} {
		cfg := auth.DefaultConfig()
		cfg.AuthservID = "mx.test"
		var calls atomic.Int64
		ev, err := auth.New(cfg, r, nil)
		if hook {
			ev, err = auth.NewWithGo(cfg, r, nil, func(f func()) { calls.Add(1); go f() })
		}
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		got := string(rep.Decision.Action) + " " + rep.Header[strings.Index(rep.Header, ";"):]
		if !hook {
			want = got
			if !strings.Contains(got, "dkim=") {
				t.Fatalf("no DKIM result: %q", got)
			}
			continue
		}
		if got != want {
			t.Errorf("with NewWithGo: %q, without: %q", got, want)
		}
		if n := calls.Load(); n != 3 {
			t.Errorf("NewWithGo's function ran %d tasks, want 3 (SPF, HELO, DKIM key lookup)", n)
		}
	}
}

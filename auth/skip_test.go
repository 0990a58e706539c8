package auth_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestSkipLists: trusted and SASL-authenticated clients are not evaluated
// while policy.skip_trusted / policy.skip_authenticated are on (the
// default), and are evaluated like anyone else when they are off.
func TestSkipLists(t *testing.T) {
	_, r := dnstest.StartResolver(t, `reject.test. TXT "v=spf1 ip4:192.0.2.1 -all"
reject.test. A 192.0.2.1
_dmarc.reject.test. TXT "v=DMARC1; p=reject"`)
	spoof := "From: ceo@reject.test\r\nSubject: x\r\n\r\nx\r\n"
	for _, c := range []struct {
		name           string
		skipTrusted    bool
		skipAuth       bool
		ip, user       string
		wantSkipped    string
		wantAction     string
		wantHeaderPart string
	}{
		{"trusted, skipped", true, true, "127.0.0.1", "", "trusted network", "accept", ""},
		{"trusted, skip_trusted off", false, true, "127.0.0.1", "", "", "reject", "dmarc=fail"},
		{"authenticated, skipped", true, true, "198.51.100.9", "alice", "authenticated client", "accept", ""},
		{"authenticated, skip_authenticated off", true, false, "198.51.100.9", "alice", "", "reject", "dmarc=fail"},
		{"neither", true, true, "198.51.100.9", "", "", "reject", "dmarc=fail"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := auth.DefaultConfig()
			cfg.AuthservID = "mx.test"
			cfg.Policy.SkipTrusted, cfg.Policy.SkipAuthenticated = c.skipTrusted, c.skipAuth
			ev, err := auth.New(cfg, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.SkipsClient(net.ParseIP(c.ip)); got != (c.wantSkipped == "trusted network") {
				t.Errorf("SkipsClient(%s) = %v", c.ip, got)
			}
			env := auth.Envelope{ClientIP: net.ParseIP(c.ip), Helo: "client.test", MailFrom: "ceo@reject.test", AuthUser: c.user}
			rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(spoof))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Skipped != c.wantSkipped || string(rep.Decision.Action) != c.wantAction {
				t.Errorf("skipped %q action %q, want %q %q (reason %q)", rep.Skipped, rep.Decision.Action, c.wantSkipped, c.wantAction, rep.Decision.Reason)
			}
			if !strings.Contains(rep.Header, c.wantHeaderPart) || (c.wantHeaderPart == "") != (rep.Header == "") {
				t.Errorf("header %q, want one containing %q", rep.Header, c.wantHeaderPart)
			}
		})
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndQuarantineHold: with the default quarantine_mode = "milter",
// a p=quarantine failure is held by the MTA itself (Postfix's hold queue,
// Sendmail's quarantined queue files), not delivered.
func TestEndToEndQuarantineHold(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	d := startDaemon(t, w.dns.Addr, "authserv_id = \""+e2eAuthservID+"\"\ntrusted_networks = []\n")
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) {
			mid := "<held." + m.Name + "@e2e.test>"
			msg := message([]string{"From: news@quarantine.test", "To: u@rcpt.test", "Subject: q", "Message-ID: " + mid}, "Held?\n")
			s := dialSMTP(t, m, "127.0.0.1", "client.test")
			if r := s.Send(t, "news@quarantine.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
				t.Fatalf("reply %q, want 250 (accepted into quarantine)", r)
			}
			if !m.held(t, "quarantine.test") {
				t.Fatalf("%s: message not held in quarantine", m.Name)
			}
		})
	}
}

// held reports whether the MTA's queue holds a quarantined message whose
// quarantine reason mentions sub.
func (m *mta) held(t *testing.T, sub string) bool {
	t.Helper()
	root := filepath.Dir(m.mailDir)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		switch m.Name {
		case "postfix":
			out, _ := exec.Command("/usr/sbin/postqueue", "-c", filepath.Join(root, "conf"), "-j").Output()
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, `"queue_name": "hold"`) {
					return true
				}
			}
		case "sendmail":
			// Sendmail renames a quarantined job's qf file to hf and keeps
			// the reason on a "q" line.
			files, _ := filepath.Glob(filepath.Join(root, "queue", "hf*"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				if strings.Contains(string(b), sub) {
					return true
				}
			}
		}
	}
	return false
}

package authres

import (
	"strings"
	"testing"
)

func TestAppendARC(t *testing.T) {
	base := Format("mx.example", &SPFResult{Result: "pass", Identity: "a@example.com"}, nil, nil)
	for _, c := range []struct {
		name string
		in   string
		a    *ARCResult
		want string
	}{
		{"nil", base, nil, base},
		{"pass", base, &ARCResult{Result: "pass", Reason: "i=1 lists.example", OldestPass: 0, RemoteIP: "192.0.2.1"},
			base + ";\r\n\tarc=pass (i=1 lists.example) header.oldest-pass=0 smtp.remote-ip=192.0.2.1"},
		{"fail without oldest-pass", base, &ARCResult{Result: "fail", Reason: "ARC-Seal i=2: signature did not verify (x)", OldestPass: -1, RemoteIP: "2001:db8::1"},
			base + ";\r\n\tarc=fail (ARC-Seal i=2: signature did not verify \\(x\\))\r\n\tsmtp.remote-ip=\"2001:db8::1\""}, // ":" is a tspecial: quoted (RFC 8601 §2.2 pvalue)
		{"no other result", "mx.example; none", &ARCResult{Result: "none", OldestPass: -1},
			"mx.example;\r\n\tarc=none"},
	} {
		got := AppendARC(c.in, c.a)
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		for _, line := range strings.Split(got, "\r\n") {
			if len(line) > 78 {
				t.Errorf("%s: line over 78 octets: %q", c.name, line)
			}
		}
	}
}

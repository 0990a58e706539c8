package failure

import (
	"strings"
	"testing"
)

// secretLocals are the local-parts of sampleHeader: none may survive.
var secretLocals = []string{"alice.smith", "bob", "carol+tag", "dave", "eve", "SRS0=HHH=TT=orig.example=frank",
	"grace", "heidi", "ivan", "judy_q", "mallory", "oscar", "peggy", "\"quoted local\"", "trent", "victor", "walter"}

const sampleHeader = "Received: from mx.sender.example (mx.sender.example [192.0.2.7])\r\n" +
	"\tby mx.receiver.example (Postfix) with ESMTP id 4AB\r\n" +
	"\tfor <bob@receiver.example>; Mon, 7 Dec 2026 10:00:00 +0000\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel;\r\n" +
	"\ti=dave@example.com; h=From:To; bh=abc=; b=def=\r\n" +
	"Authentication-Results: mx.sender.example; spf=pass\r\n" +
	"\tsmtp.mailfrom=SRS0=HHH=TT=orig.example=frank@fwd.example\r\n" +
	"From: \"Alice Smith (alice.smith)\" <alice.smith@example.com>\r\n" +
	"To: carol+tag@receiver.example, Eve <eve@receiver.example>\r\n" +
	"Cc: \"quoted local\"@receiver.example\r\n" +
	"Reply-To: =?utf-8?q?Grace?= <grace@example.com>\r\n" +
	"Subject: =?utf-8?q?hello_heidi=40example=2Ecom_=C3=A9t=C3=A9?=\r\n" +
	"List-Unsubscribe: <https://list.example/u?a=ivan%40example.com>,\r\n <mailto:judy_q@list.example>\r\n" +
	"Message-ID: <mallory@example.com>\r\n" +
	"X-Note: write to oscar@example.org or peggy@example.org\n" + // bare LF
	"Return-Path: <trent@bounce.example>\r\n" +
	"Sender: victor@example.com (Victor)\r\n" +
	"Resent-To: undisclosed: walter@receiver.example;\r\n"

func TestRedactHeader(t *testing.T) {
	red := NewRedactor([]byte("k"))
	out := string(red.Header([]byte(sampleHeader)))
	for _, l := range secretLocals {
		for _, form := range []string{l + "@", l + "%40"} {
			if strings.Contains(out, form) {
				t.Errorf("local-part %q survives:\n%s", l, out)
			}
		}
	}
	for _, bad := range []string{"Alice Smith", "(Victor)", "heidi"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q survives:\n%s", bad, out)
		}
	}
	for _, keep := range []string{
		"i=" + red.Local("dave") + "@example.com",
		"smtp.mailfrom=" + red.Local("SRS0=HHH=TT=orig.example=frank") + "@fwd.example",
		"From: <" + red.Local("alice.smith") + "@example.com>",
		"for <" + red.Local("bob") + "@receiver.example>",
		"X-Note: write to " + red.Local("oscar") + "@example.org",
		"<https://list.example/u?a=" + red.Local("ivan") + "%40example.com>",
		"bh=abc=; b=def=",
	} {
		if !strings.Contains(out, keep) {
			t.Errorf("want %q in:\n%s", keep, out)
		}
	}
	if strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\r") {
		t.Errorf("bare line ends:\n%q", out)
	}
	// The same local-part gets the same token; another key another one.
	if red.Local("bob") != NewRedactor([]byte("k")).Local("bob") || red.Local("bob") == NewRedactor([]byte("k2")).Local("bob") {
		t.Error("tokens are not keyed consistently")
	}
}

func TestRedactText(t *testing.T) {
	red := NewRedactor(nil)
	for _, c := range []struct{ in, want string }{
		{"no address here", "no address here"},
		{"a@", "a@"},
		{"@example.com", "@example.com"},
		{"x <u@d.example>", "x <" + red.Local("u") + "@d.example>"},
		{"u@d.example@e.example", red.Local("u") + "@" + red.Local("d.example") + "@e.example"},
	} {
		if got := red.Text(c.in, false); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// In a tagged field the tag is not part of the local-part.
	for _, c := range []struct{ in, want string }{
		{"header.i=@example.com", "header.i=@example.com"},
		{"i=u@example.com", "i=" + red.Local("u") + "@example.com"},
	} {
		if got := red.Text(c.in, true); got != c.want {
			t.Errorf("tagged Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRedactUndecodable: an encoded-word in a charset we cannot read is
// dropped (it could hide an address); the readable ones are redacted.
func TestRedactUndecodable(t *testing.T) {
	red := NewRedactor(nil)
	in := "Subject: =?koi8-r?b?c2VjcmV0QGV4YW1wbGUuY29t?= and =?utf-8?q?other=40example.com?=\r\n"
	out := string(red.Header([]byte(in)))
	if strings.Contains(out, "c2VjcmV0QGV4YW1wbGUuY29t") || strings.Contains(out, "other@") || !strings.Contains(out, "[undecodable]") ||
		!strings.Contains(out, red.Local("other")+"@example.com") {
		t.Errorf("got %q", out)
	}
}

package send

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	b, err := os.ReadFile("testdata/postfix-dsn.eml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDSN(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d.MessageID != "2026120712ab@receiver.example" {
		t.Errorf("MessageID %q", d.MessageID)
	}
	if len(d.Failed) != 1 || d.Failed[0].Recipient != "gone@dest.example" || d.Failed[0].Status != "5.1.1" ||
		!strings.Contains(d.Failed[0].Diagnostic, "User unknown") {
		t.Errorf("failed %+v, want gone@dest.example only (later@ is delayed)", d.Failed)
	}
	for _, s := range []string{
		"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n",
		"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n--x--\r\n",
		"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
	} {
		if _, err := ParseDSN(strings.NewReader(s)); !errors.Is(err, ErrNotDSN) {
			t.Errorf("%q: %v, want ErrNotDSN", s, err)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	if b, err := os.ReadFile("testdata/postfix-dsn.eml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; a\r\n\r\nFinal-Recipient: rfc822; a@b.test\r\nAction: failed\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDSN(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, x := range d.Failed {
			if x.Recipient == "" || strings.ContainsAny(x.Recipient, "\r\n <>") {
				t.Fatalf("recipient %q", x.Recipient)
			}
		}
	})
}

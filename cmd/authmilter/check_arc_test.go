package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// arcTestMessage is a message sealed twice (one.test, then two.test), LF
// line ends, and a DNS server publishing both keys.
func arcTestMessage(t *testing.T) (string, *dnstest.Server) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	rec, _ := dkim.KeyRecord(key)
	msg := "From: joe@example.com\r\nTo: sue@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	for i, d := range []string{"one.test", "two.test"} {
		s, err := arc.NewSigner(d, "s", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		fields, body := arc.SplitHeader([]byte(msg))
		bh := dkim.NewBodyHasher(true, -1)
		bh.Write(body)
		sum, _, _ := bh.Sum()
		cv := arc.Status(map[bool]string{true: "none", false: "pass"}[i == 0])
		set, err := s.Seal(arc.SealInput{Fields: fields, BodyHash: sum, AuthResults: d + "; spf=pass smtp.mailfrom=joe@example.com", CV: cv, Time: time.Unix(1765000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		msg = "ARC-Seal: " + set.Seal + "\r\nARC-Message-Signature: " + set.AMS + "\r\nARC-Authentication-Results: " + set.AAR + "\r\n" + msg
	}
	srv, err := dnstest.Start(fmt.Sprintf("s._domainkey.one.test. 300 IN TXT %q\ns._domainkey.two.test. 300 IN TXT %q\n", rec, rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return strings.ReplaceAll(msg, "\r\n", "\n"), srv
}

func TestCheckARC(t *testing.T) {
	msg, srv := arcTestMessage(t)
	var stdout, stderr bytes.Buffer
	if code := checkARC([]string{"-dns", srv.Addr, "-dns-timeout", "500ms"}, strings.NewReader(msg), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := "arc=pass instances=2 header.oldest-pass=0\n  i=2 d=two.test s=s pass\n  i=1 d=one.test s=s pass\n"
	if stdout.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", stdout.String(), want)
	}

	for _, c := range []struct{ name, msg, want string }{
		{"pass", msg, `{"result":"pass","instances":2,"oldest_pass":0,"reason":"","sealers":[{"instance":2,"domain":"two.test","selector":"s","result":"pass"},{"instance":1,"domain":"one.test","selector":"s","result":"pass"}]}`},
		{"none", "From: a@b.example\n\nx\n", `{"result":"none","instances":0,"oldest_pass":0,"reason":"","sealers":[]}`},
		{"fail", strings.Replace(msg, "Hello.", "Hello!", 1), `{"result":"fail","instances":2,"oldest_pass":0,"reason":"ARC-Message-Signature i=2: body hash did not verify","sealers":[]}`},
	} {
		stdout.Reset()
		if code := checkARC([]string{"-dns", srv.Addr, "-json"}, strings.NewReader(c.msg), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, stderr.String())
		}
		if got := strings.TrimSpace(stdout.String()); got != c.want || strings.Count(stdout.String(), "\n") != 1 {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestCheckMessageARC: check message -json has the same "arc" object.
func TestCheckMessageARC(t *testing.T) {
	msg, srv := arcTestMessage(t)
	var stdout, stderr bytes.Buffer
	code := checkMessage([]string{"-dns", srv.Addr, "-dns-timeout", "500ms", "-ip", "192.0.2.1", "-helo", "mx.example.com",
		"-mail-from", "joe@example.com", "-json"}, strings.NewReader(msg), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		ARC                   arcJSON `json:"arc"`
		AuthenticationResults string  `json:"authentication_results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.ARC.Result != "pass" || out.ARC.Instances != 2 || len(out.ARC.Sealers) != 2 || out.ARC.Sealers[0].Domain != "two.test" {
		t.Errorf("arc %+v", out.ARC)
	}
	if !strings.Contains(out.AuthenticationResults, "arc=pass") || !strings.Contains(out.AuthenticationResults, "smtp.remote-ip=192.0.2.1") {
		t.Errorf("A-R %s", out.AuthenticationResults)
	}
}

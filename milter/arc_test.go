package milter

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// TestARCThroughMilter: a list's p=reject message sealed by a trusted
// sealer is quarantined, not rejected; with [arc.seal] our ARC set is the
// last header change, inserted on top as ARC-Seal, ARC-Message-Signature,
// ARC-Authentication-Results with a leading space and LF folds, and the
// message as the MTA then writes it verifies with two instances. The log
// line names the sealers.
func TestARCThroughMilter(t *testing.T) {
	listKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	ourKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	listRec, _ := dkim.KeyRecord(listKey)
	ourRec, _ := dkim.KeyRecord(ourKey)
	der, _ := x509.MarshalPKCS8PrivateKey(ourKey)
	keyFile := filepath.Join(t.TempDir(), "arc.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	zone := `_dmarc.reject.test. TXT "v=DMARC1; p=reject"
lists.test. TXT "v=spf1 -all"
s1._domainkey.lists.test. TXT "` + listRec + `"
arc._domainkey.mx.test. TXT "` + ourRec + `"
`
	env := newTestEnv(t, zone, envOptions{auth: func(c *auth.Config) {
		c.ARC.TrustedSealers = []string{"lists.test"}
		c.ARC.Seal = auth.ARCSealConfig{Domain: "mx.test", Selector: "arc", Key: keyFile}
		c.Policy.ListIDQuarantines = false
		c.Policy.QuarantineMode = "header"
	}})
	msg := "From: ceo@reject.test\r\nTo: users@lists.test\r\nSubject: [users] hi\r\n" +
		"Date: Mon, 7 Dec 2026 16:00:00 +0000\r\nList-Id: <users.lists.test>\r\n\r\nhi\r\n-- \r\nfooter\r\n"
	list, err := arc.NewSigner("lists.test", "s1", listKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	fields, body := arc.SplitHeader([]byte(msg))
	bh := dkim.NewBodyHasher(true, -1)
	bh.Write(body)
	sum, _, _ := bh.Sum()
	set, err := list.Seal(arc.SealInput{Fields: fields, BodyHash: sum, CV: arc.None, Time: time.Now(),
		AuthResults: "lists.test;\r\n\tdmarc=pass header.from=reject.test"})
	if err != nil {
		t.Fatal(err)
	}
	msg = "ARC-Seal: " + set.Seal + "\r\nARC-Message-Signature: " + set.AMS + "\r\nARC-Authentication-Results: " +
		set.AAR + "\r\n" + msg

	s := env.client()
	defer s.Close()
	connect(t, s, "198.51.100.9", "mail.lists.test")
	mods, act := sendMessage(t, s, "bounce@lists.test", []byte(msg))
	if act.Code != gomilter.ActAccept {
		t.Fatalf("action %c, want accept (quarantine by header)", act.Code)
	}
	// Apply the changes as the MTA does: each insert at index 0.
	var top []string
	var names []string
	for _, m := range mods {
		if m.Code != gomilter.ActInsertHeader || m.HeaderIndex != 0 {
			continue
		}
		if !strings.HasPrefix(m.HeaderValue, " ") || strings.Contains(m.HeaderValue, "\r") {
			t.Errorf("%s value %q: want one leading space and LF folds", m.HeaderName, m.HeaderValue)
		}
		top = append([]string{m.HeaderName + ":" + strings.ReplaceAll(m.HeaderValue, "\n", "\r\n") + "\r\n"}, top...)
		names = append(names, m.HeaderName)
	}
	want := []string{"Authentication-Results", "X-Authmilter-Quarantine", "ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("inserted %v, want %v (the ARC set last)", names, want)
	}
	delivered := strings.Join(top, "") + msg
	r, err := dns.New(dns.Config{Servers: []string{env.dns.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := arc.Verify(context.Background(), arc.Options{Resolver: r}, strings.NewReader(delivered))
	if err != nil || res.Result != arc.Pass || res.Instances != 2 || res.Sealers[0].Domain != "mx.test" {
		t.Fatalf("delivered chain: %+v %v\n%s", res, err, delivered)
	}
	ar := insertedAR(mods)
	for _, w := range []string{"arc=pass", "smtp.remote-ip=198.51.100.9", "dmarc=fail"} {
		if !strings.Contains(ar, w) {
			t.Errorf("A-R lacks %s: %s", w, ar)
		}
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "arc=pass") || !strings.Contains(logs, "arc_sealers=1:lists.test:pass") {
		t.Errorf("log line lacks the ARC result:\n%s", logs)
	}
}

package main

// End-to-end test of inbound TLS recording and required TLS through a real
// Postfix and a real Sendmail offering STARTTLS with a certificate from a
// test CA and asking for client certificates: plaintext, TLS without a
// client certificate, with one the CA issued, with a self-signed one;
// "TLS-Required: No"; REQUIRETLS; a [[tls.require]] rule.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts/mtaststest"
)

const tlsE2EZone = `
tls.test.         TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.tls.test.  TXT "v=DMARC1; p=none"
req.test.         TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.req.test.  TXT "v=DMARC1; p=none"
client.test.      A   127.0.0.1
client.test.      TXT "v=spf1 ip4:127.0.0.0/8 -all"
`

const tlsE2EConfig = e2eConfig + `
[[tls.require]]
domain = "req.test"
`

// tlsClient is how a case's SMTP client connects.
type tlsClient struct {
	startTLS bool
	cert     *tls.Certificate // client certificate, or none
	params   string           // MAIL FROM parameters (" REQUIRETLS")
}

func TestE2ETLS(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	root := worldDir(t)
	ca := mtaststest.NewCA(t)
	_, srvCert, srvKey := ca.Issue(t, "mx.authmilter.test")
	clientCert, _, _ := ca.Issue(t, "mail.sender.example.org")
	rogueCert, _, _ := mtaststest.NewCA(t).Issue(t, "rogue.example.net")
	files := &mtaTLS{Cert: filepath.Join(root, "tls", "srv.crt"), Key: filepath.Join(root, "tls", "srv.key"), CA: filepath.Join(root, "tls", "ca.crt")}
	if err := os.MkdirAll(filepath.Join(root, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{files.Cert: srvCert, files.Key: srvKey, files.CA: ca.CertPEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(files.Cert, 0o644)
	os.Chmod(files.CA, 0o644)

	dnsSrv, err := dnstest.Start(tlsE2EZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dnsSrv.Close)
	d := startDaemon(t, dnsSrv.Addr, tlsE2EConfig)
	roots := ca.Pool()

	for _, start := range []func(*testing.T, string, mtaOptions) *mta{startPostfixWith, startSendmailWith} {
		m := start(t, d.Addr, mtaOptions{TLS: files})
		t.Run(m.Name, func(t *testing.T) {
			send := func(c tlsClient, from string, headers ...string) (reply, mid string) {
				t.Helper()
				mid = fmt.Sprintf("<%d.%s@tls.test>", time.Now().UnixNano(), m.Name)
				msg := message(append([]string{"From: <" + from + ">", "To: u@rcpt.test", "Subject: tls", "Message-ID: " + mid}, headers...), "Hi.\n")
				return sendWith(t, m, roots, c, from, msg), mid
			}
			deliver := func(c tlsClient, from string, headers ...string) string {
				t.Helper()
				r, mid := send(c, from, headers...)
				if !strings.HasPrefix(r, "250") {
					t.Fatalf("reply %q, want 250", r)
				}
				got := ours(m.Delivered(t, mid))
				if len(got) != 1 {
					t.Fatalf("%d A-R fields of ours: %q", len(got), got)
				}
				return got[0]
			}
			// The cipher is the one the two ends agreed on.
			tls13 := `x-tls=pass %ssmtp\.version=TLSv1\.3 smtp\.cipher=TLS_[A-Z0-9_]+ smtp\.bits=(128|256)%s$`
			match := func(what, ar, re string) {
				t.Helper()
				if !regexp.MustCompile(re).MatchString(ar) {
					t.Errorf("%s: A-R\n%s\ndoes not match %s", what, ar, re)
				}
			}

			ar := deliver(tlsClient{}, "a@tls.test")
			if !strings.HasSuffix(ar, "; x-tls=none") {
				t.Errorf("plaintext: A-R %s", ar)
			}

			ar = deliver(tlsClient{startTLS: true}, "a@tls.test")
			noCert := "" // Postfix: no certificate looks like an untrusted one
			if m.Name == "sendmail" {
				noCert = `\(no client certificate\) ` // {verify}=NO
			}
			match("TLS, no client certificate", ar, fmt.Sprintf(tls13, noCert, ""))

			ar = deliver(tlsClient{startTLS: true, cert: &clientCert}, "a@tls.test")
			match("TLS, client certificate from the CA", ar,
				fmt.Sprintf(tls13, `\(client certificate mail\.sender\.example\.org issued by authmilter test CA verified\) `, ""))

			ar = deliver(tlsClient{startTLS: true, cert: &rogueCert}, "a@tls.test")
			rogue := "" // Postfix sends no certificate macros for it
			if m.Name == "sendmail" {
				rogue = `\(client certificate not verified \\\(FAIL\\\)\) ` // {verify}=FAIL; its names are not kept
			}
			match("TLS, self-signed client certificate", ar, fmt.Sprintf(tls13, rogue, ""))

			ar = deliver(tlsClient{startTLS: true}, "a@tls.test", "TLS-Required: No")
			match("TLS-Required: No", ar, fmt.Sprintf(tls13, noCert, " header\\.tls-required=no"))

			// REQUIRETLS: neither Postfix 3.7 nor Sendmail 8.17 offers
			// it; whichever refuses the parameter, the milter is not asked.
			r, mid := send(tlsClient{startTLS: true, params: " REQUIRETLS"}, "a@tls.test")
			if strings.HasPrefix(r, "250") {
				got := ours(m.Delivered(t, mid))
				if len(got) != 1 || !strings.Contains(got[0], "smtp.requiretls=yes") {
					t.Errorf("REQUIRETLS accepted by %s but not recorded: %q", m.Name, got)
				}
			} else {
				t.Logf("%s refuses MAIL FROM REQUIRETLS: %s", m.Name, r)
			}

			// [[tls.require]] req.test: SPF proves 127.0.0.1 sends for it.
			if r, _ := send(tlsClient{}, "a@req.test"); !strings.HasPrefix(r, "450 4.7.1 TLS is required for mail from req.test") {
				t.Errorf("plaintext from req.test: reply %q, want 450 4.7.1", r)
			}
			ar = deliver(tlsClient{startTLS: true}, "a@req.test")
			match("TLS from req.test", ar, fmt.Sprintf(tls13, noCert, ""))
		})
	}
	log := d.log.String()
	for _, w := range []string{"tls=none", "tls=TLSv1.3", "client_cert=verified client_cert_subject=mail.sender.example.org",
		"client_cert=failed:FAIL", "client_cert_md5=", "tls_required=no", "tls_require=enforced:req.test", "tls_require=met:req.test"} {
		if !strings.Contains(log, w) {
			t.Errorf("daemon log lacks %q", w)
		}
	}
}

// sendWith runs one transaction on a new connection from 127.0.0.1 with
// HELO client.test, with STARTTLS (the server certificate checked against
// roots) as c says, and returns the reply to the end of DATA ("250 ok")
// or the first error reply.
func sendWith(t *testing.T, m *mta, roots *x509.CertPool, c tlsClient, from string, msg []byte) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", m.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := smtp.NewClient(conn, "mx.authmilter.test")
	if err != nil {
		t.Fatalf("%s: greeting: %v", m.Name, err)
	}
	defer cl.Close()
	if err := cl.Hello("client.test"); err != nil {
		t.Fatalf("%s: EHLO: %v", m.Name, err)
	}
	if c.startTLS {
		cfg := &tls.Config{ServerName: "mx.authmilter.test", RootCAs: roots}
		if c.cert != nil {
			cfg.Certificates = []tls.Certificate{*c.cert}
		}
		// net/smtp sends EHLO again after the handshake.
		if err := cl.StartTLS(cfg); err != nil {
			t.Fatalf("%s: STARTTLS: %v", m.Name, err)
		}
	}
	id, err := cl.Text.Cmd("MAIL FROM:<%s>%s", from, c.params)
	if err != nil {
		t.Fatal(err)
	}
	cl.Text.StartResponse(id)
	_, _, err = cl.Text.ReadResponse(250)
	cl.Text.EndResponse(id)
	if err != nil {
		return replyText(err)
	}
	if err := cl.Rcpt("u@rcpt.test"); err != nil {
		return replyText(err)
	}
	w, err := cl.Data()
	if err != nil {
		return replyText(err)
	}
	if _, err := w.Write(msg); err != nil {
		return replyText(err)
	}
	if err := w.Close(); err != nil {
		return replyText(err)
	}
	cl.Quit()
	return "250 ok"
}

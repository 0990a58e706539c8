package milter

import (
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// TestTLSFromMacros: each MTA's macros as they were seen from real Postfix
// 3.7 and Sendmail 8.17 sessions; Sendmail's names of a certificate it did
// not verify are not kept.
func TestTLSFromMacros(t *testing.T) {
	tls := map[string]string{"{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_256_GCM_SHA384", "{cipher_bits}": "256"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range tls {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	base := auth.TLS{Version: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Bits: "256"}
	withCert := func(st auth.CertState, subj, iss, detail string) auth.TLS {
		t := base
		t.Cert, t.Subject, t.Issuer, t.CertDetail = st, subj, iss, detail
		return t
	}
	withMD5 := func(t auth.TLS, md5 string) auth.TLS { t.MD5 = md5; return t }
	for _, tc := range []struct {
		name string
		mac  map[string]string
		want auth.TLS
		ok   bool
	}{
		{"plaintext", map[string]string{"i": "ABC"}, auth.TLS{}, false},
		{"postfix, no or untrusted certificate", with(), base, true},
		{"postfix, trusted certificate", with("{cert_subject}", "mail.sender.example.org", "{cert_issuer}", "authmilter test CA"),
			withCert(auth.CertVerified, "mail.sender.example.org", "authmilter test CA", ""), true},
		{"sendmail, verified", with("{verify}", "OK", "{cert_subject}", "/CN=mail.sender.example.org", "{cert_issuer}", "/CN=authmilter+20test+20CA",
			"{cn_subject}", "mail.sender.example.org", "{cn_issuer}", "authmilter+20test+20CA", "{cert_md5}", "15:0F:58"),
			withMD5(withCert(auth.CertVerified, "mail.sender.example.org", "authmilter test CA", ""), "15:0F:58"), true},
		{"sendmail, verified, DN only", with("{verify}", "TRUSTED", "{cert_subject}", "/O=Org/CN=mail.sender.example.org", "{cert_issuer}", "/CN=authmilter+20test+20CA"),
			withCert(auth.CertVerified, "mail.sender.example.org", "authmilter test CA", ""), true},
		{"sendmail, self-signed", with("{verify}", "FAIL", "{cert_subject}", "/CN=rogue.example.net", "{cn_subject}", "rogue.example.net", "{cert_md5}", "AA:BB"),
			withCert(auth.CertFailed, "", "", "FAIL"), true},
		{"sendmail, no certificate", with("{verify}", "NO"), withCert(auth.CertNone, "", "", ""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tlsFromMacros(tc.mac)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestXtextDecode(t *testing.T) {
	for in, want := range map[string]string{"": "", "a+20b": "a b", "a+2": "a+2", "+2B+3d": "+=", "a+zz": "a+zz"} {
		if got := xtextDecode(in); got != want {
			t.Errorf("xtextDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTLSSession: the transport is taken from the HELO macros (the EHLO
// after STARTTLS), refreshed at MAIL, REQUIRETLS from MAIL FROM's
// parameters; our Authentication-Results and the log line say so.
func TestTLSSession(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	if _, err := s.Conn("client.example", gomilter.FamilyInet, 25, sessionIP); err != nil {
		t.Fatal(err)
	}
	// EHLO before STARTTLS: no TLS macros.
	if _, err := s.Helo("helo.test"); err != nil {
		t.Fatal(err)
	}
	mods, _ := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "plain"))
	if ar := insertedAR(mods); !strings.HasSuffix(ar, "\tx-tls=none") {
		t.Errorf("plaintext: A-R\n%s", ar)
	}
	// EHLO after STARTTLS.
	if err := s.Macros(gomilter.CodeHelo, "{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384", "{cipher_bits}", "256",
		"{cert_subject}", "mail.sender.example.org", "{cert_issuer}", "authmilter test CA"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("helo.test"); err != nil {
		t.Fatal(err)
	}
	if act, err := s.Mail("b@other.test", []string{"BODY=8BITMIME", "requiretls"}); err != nil || act.Code != gomilter.ActContinue {
		t.Fatal(act, err)
	}
	fields, body := postfixFields(append([]byte("TLS-Required: No\r\n"), simpleMessage("b@other.test", "tls")...))
	for _, f := range fields {
		s.HeaderField(f[0], f[1])
	}
	s.HeaderEnd()
	s.BodyChunk(body)
	mods, act, err := s.End()
	if err != nil || act.Code != gomilter.ActAccept {
		t.Fatal(act, err)
	}
	ar := unfold(insertedAR(mods))
	want := "x-tls=pass (client certificate mail.sender.example.org issued by authmilter test CA verified) smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256 smtp.requiretls=yes header.tls-required=no"
	if !strings.HasSuffix(ar, want) {
		t.Errorf("A-R\n%s\nwant it to end with\n%s", ar, want)
	}
	// The MAIL stage's macros take over (a MAIL without a new EHLO).
	mods, _ = sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "mail"), "{tls_version}", "TLSv1.2", "{cipher}", "ECDHE", "{cipher_bits}", "128")
	if ar := unfold(insertedAR(mods)); !strings.HasSuffix(ar, "x-tls=pass smtp.version=TLSv1.2 smtp.cipher=ECDHE smtp.bits=128") {
		t.Errorf("MAIL macros: A-R\n%s", ar)
	}
	logs := env.logs.String()
	for _, w := range []string{"tls=none", "tls=TLSv1.3 tls_cipher=TLS_AES_256_GCM_SHA384 tls_bits=256 client_cert=verified client_cert_subject=mail.sender.example.org",
		"requiretls=true tls_required=no", "tls=TLSv1.2 tls_cipher=ECDHE tls_bits=128"} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
}

// unfold joins a header value's folded lines (CRLF or LF) with a space.
func unfold(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\n\t", " ")
}

// FuzzTLSFromMacros: any macro values read without a panic; a
// certificate's names are kept only when it was verified, and decoding
// never lengthens a name.
func FuzzTLSFromMacros(f *testing.F) {
	f.Add("TLSv1.3", "mail.example.org", "authmilter test CA", "", "", "", false)
	f.Add("TLSv1.3", "/CN=rogue.example.net", "/CN=x", "FAIL", "rogue.example.net", "", true)
	f.Add("TLSv1.2", "/O=a/CN=b+20c", "/CN=authmilter+20test+20CA", "OK", "", "authmilter+2", true)
	f.Fuzz(func(t *testing.T, version, subject, issuer, verify, cnSubject, cnIssuer string, sendmail bool) {
		mac := map[string]string{"{tls_version}": version, "{cert_subject}": subject, "{cert_issuer}": issuer,
			"{cn_subject}": cnSubject, "{cn_issuer}": cnIssuer}
		if sendmail {
			mac["{verify}"] = verify
		}
		tl, ok := tlsFromMacros(mac)
		if ok != (version != "") {
			t.Fatalf("ok %v for version %q", ok, version)
		}
		if tl.Cert != auth.CertVerified && (tl.Subject != "" || tl.Issuer != "") {
			t.Fatalf("names kept for an unverified certificate: %+v", tl)
		}
		if len(tl.Subject) > max(len(subject), len(cnSubject)) {
			t.Fatalf("subject %q longer than its macros", tl.Subject)
		}
	})
}

// TestSymListAsksForTLSMacros: our symbol list replaces the MTA's
// milter_helo_macros and milter_mail_macros, so every TLS macro we read is
// asked for at HELO and at MAIL, beside the MAIL macros we read already.
func TestSymListAsksForTLSMacros(t *testing.T) {
	srv, err := NewServer(DefaultConfig(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sym := srv.protocol(DefaultConfig()).SymList
	for _, st := range []gomilter.Stage{gomilter.StageHelo, gomilter.StageMailFrom} {
		have := strings.Join(sym[st], " ")
		for _, m := range []string{"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}", "{verify}", "{cn_subject}", "{cn_issuer}", "{cert_md5}"} {
			if !strings.Contains(" "+have+" ", " "+m+" ") {
				t.Errorf("stage %d: %s not asked for (%s)", st, m, have)
			}
		}
	}
	if have := strings.Join(sym[gomilter.StageMailFrom], " "); !strings.HasPrefix(have, "i {auth_authen} ") {
		t.Errorf("MAIL macros %q lost i or {auth_authen}", have)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckMessageSignaturesJSON: check message -json has "smime" and
// "openpgp" arrays (empty for a plain message) and the signature field.
func TestCheckMessageSignaturesJSON(t *testing.T) {
	w := newE2EWorld(t)
	dir := t.TempDir()
	smimeSig := smimeMaterial(t, dir)
	cfg := filepath.Join(dir, "c.toml")
	writeFile(cfg, "authserv_id = \"check.test\"\ntrusted_networks = []\n[smime]\nca_file = \""+filepath.Join(dir, "ca.pem")+"\"\n")
	signed := signedMessage(t, w, "<c@pass.test>", "application/pkcs7-signature", "sha-256",
		"application/pkcs7-signature", "base64", smimeSig)
	plain := message([]string{"From: Alice <alice@pass.test>", "To: u@rcpt.test", "Subject: x"}, "Hi.\n")
	for _, c := range []struct {
		name   string
		msg    []byte
		smime  string
		header string
	}{
		{"signed", signed, `[{"result":"pass","part":"TEXT","identifier":"alice@pass.test","issuer":"CN=E2E S-MIME CA","serial":"1234ABCD"}]`,
			"Authentication-Results: check.test;\n\tsmime=pass body.smime-identifier=alice@pass.test body.smime-part=TEXT\n" +
				"\tbody.smime-serial=1234ABCD body.smime-issuer=\"CN=E2E S-MIME CA\""},
		{"plain", plain, `[]`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errs, code := runCheckMessage(t, c.msg, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "bounce@pass.test",
				"-dns", w.dns.Addr, "-dns-timeout", "1s", "-config", cfg, "-json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if s := string(got["smime"]); s != c.smime {
				t.Errorf("smime = %s, want %s", s, c.smime)
			}
			if s := string(got["openpgp"]); s != "[]" {
				t.Errorf("openpgp = %s, want []", s)
			}
			var hs []string
			if raw, ok := got["signature_authentication_results"]; ok {
				json.Unmarshal(raw, &hs)
			}
			if (c.header == "") != (len(hs) == 0) || (c.header != "" && (len(hs) != 1 || hs[0] != c.header)) {
				t.Errorf("signature_authentication_results = %q, want %q", hs, c.header)
			}
		})
	}
	// The text output names the result too.
	out, _, _ := runCheckMessage(t, signed, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "bounce@pass.test",
		"-dns", w.dns.Addr, "-dns-timeout", "1s", "-config", cfg)
	if !strings.Contains(out, "smime: pass (part TEXT alice@pass.test serial 1234ABCD issuer CN=E2E S-MIME CA)") ||
		!strings.Contains(out, "\tsmime=pass") {
		t.Errorf("text output:\n%s", out)
	}
}

// TestSignatureConfigKeys: [smime] and [openpgp] files are read when the
// configuration is loaded, and a bad one names its key.
func TestSignatureConfigKeys(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key\n"), 0o644)
	for _, c := range []struct{ body, key string }{
		{"[smime]\nca_file = \"" + filepath.Join(dir, "missing.pem") + "\"\n", "smime.ca_file"},
		{"[smime]\nca_file = \"" + garbage + "\"\n", "smime.ca_file"},
		{"[openpgp]\nkeyring = [\"" + garbage + "\"]\n", "openpgp.keyring"},
		{"[openpgp]\nwkd = true\nwkd_timeout = \"0s\"\n", "openpgp.wkd_timeout"},
		{"[smime]\nenabled = false\n[openpgp]\nenabled = false\n[policy]\nrequire_signed = [\"example.com\"]\n", "policy.require_signed"},
		{"[policy]\nrequire_signed_action = \"tempfail\"\n", "require_signed_action"},
	} {
		path := filepath.Join(dir, "c.toml")
		writeFile(path, c.body)
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%q: got %v, want an error naming %s", c.body, err, c.key)
		}
	}
}

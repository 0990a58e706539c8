package authres

import (
	"strings"
	"testing"
)

func TestAppendTLS(t *testing.T) {
	base := Format("mx.example.com", &SPFResult{Result: "pass", Identity: "a@example.org"}, nil, nil)
	for _, tc := range []struct {
		name string
		in   TLSResult
		want string
	}{
		{"pass", TLSResult{Result: "pass", Version: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Bits: "256"},
			base + ";\r\n\tx-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384\r\n\tsmtp.bits=256"},
		{"none", TLSResult{Result: "none"}, base + ";\r\n\tx-tls=none"},
		{"empty result", TLSResult{}, base + ";\r\n\tx-tls=none"},
		{"fail with comment and RFC 8689", TLSResult{Result: "fail", Comment: "example.org requires TLS", RequireTLS: true, TLSRequiredNo: true},
			base + ";\r\n\tx-tls=fail (example.org requires TLS) smtp.requiretls=yes\r\n\theader.tls-required=no"},
		{"hostile values", TLSResult{Result: "pass;x", Version: "TLS v1\r\n", Cipher: "a;b", Comment: "cn) (x"},
			base + ";\r\n\tx-tls=passx (cn\\) \\(x) smtp.version=\"TLS v1\" smtp.cipher=\"a;b\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppendTLS(base, tc.in); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if got := AppendTLS("mx.example.com; none", TLSResult{Result: "none"}); got != "mx.example.com;\r\n\tx-tls=none" {
		t.Errorf("after none: %q", got)
	}
	// A long comment is folded, every line within 78 octets.
	got := AppendTLS(base, TLSResult{Result: "pass", Version: "TLSv1.3", Comment: "client certificate " + strings.Repeat("long", 15) + ".example.org verified"})
	for _, l := range strings.Split(got, "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
	}
	if id, ok := AuthservID(got); !ok || id != "mx.example.com" {
		t.Errorf("authserv-id of our field: %q %v", id, ok)
	}
}

// FuzzAppendTLS: whatever the MTA's macros hold, the x-tls resinfo keeps
// the field one header field: no CR or LF but the folds, no control
// characters, and the authserv-id still reads back.
func FuzzAppendTLS(f *testing.F) {
	f.Add("pass", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256", "client certificate a verified", true, false)
	f.Add("none", "", "", "", "", false, true)
	f.Add("fail;x", "TLS v1\r\nFrom: x", "a;b\"c\\", "(1)", "a) (b\\", true, true)
	base := Format("mx.example.com", &SPFResult{Result: "pass", Identity: "a@example.org"}, nil, nil)
	f.Fuzz(func(t *testing.T, result, version, cipher, bits, comment string, req, no bool) {
		v := AppendTLS(base, TLSResult{Result: result, Version: version, Cipher: cipher, Bits: bits, Comment: comment, RequireTLS: req, TLSRequiredNo: no})
		rest := strings.ReplaceAll(v, "\r\n\t", "")
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("control octet %q in %q", c, v)
			}
		}
		if id, ok := AuthservID(v); !ok || id != "mx.example.com" {
			t.Fatalf("authserv-id %q %v of %q", id, ok, v)
		}
		if !strings.Contains(v, ";\r\n\tx-tls=") {
			t.Fatalf("no x-tls resinfo in %q", v)
		}
	})
}

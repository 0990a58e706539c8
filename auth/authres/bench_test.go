package authres

import "testing"

func BenchmarkFormat(b *testing.B) {
	spf := &SPFResult{Result: "pass", Identity: "bounce@a.example", Reason: "ip4:192.0.2.0/24 matched"}
	helo := &SPFResult{Result: "none", Identity: "mail.a.example"}
	dk := []DKIMResult{{Result: "pass", Domain: "a.example", Identity: "@a.example", Selector: "s1", Signature: "abcdefghij"}}
	dm := &DMARCResult{Result: "pass", From: "a.example", Policy: "reject", Reason: "dkim aligned"}
	for b.Loop() {
		Format("mx.example.org", spf, helo, dk, dm)
	}
}

func BenchmarkAuthservID(b *testing.B) {
	v := "(comment; with (nested) parens) mx.example.org 1;\r\n\tspf=pass smtp.mailfrom=a.example"
	for b.Loop() {
		if _, ok := AuthservID(v); !ok {
			b.Fatal("no id")
		}
	}
}

func BenchmarkAppendTLS(b *testing.B) {
	v := Format("mx.example.com", &SPFResult{Result: "pass", Identity: "bounce@example.org"}, nil,
		[]DKIMResult{{Result: "pass", Domain: "example.org", Selector: "sel", Signature: "abcdefgh12345"}},
		&DMARCResult{Result: "pass", From: "example.org", Policy: "reject"})
	t := TLSResult{Result: "pass", Version: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Bits: "256"}
	b.ReportAllocs()
	for b.Loop() {
		AppendTLS(v, t)
	}
}

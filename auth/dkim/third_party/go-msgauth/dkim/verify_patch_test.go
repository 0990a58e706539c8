package dkim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// TestVerifyIdentifierCase (authmilter patch): i= and d= are domain names
// and compare case-insensitively; i= outside d= is still refused.
func TestVerifyIdentifierCase(t *testing.T) {
	for _, tc := range []struct {
		identifier string
		ok         bool
	}{
		{"@EXAMPLE.ORG", true},
		{"joe@Mail.Example.Org", true},
		{"@example.org", true},
		{"@EXAMPLE.COM", false},
		{"@BADEXAMPLE.ORG", false},
	} {
		var b bytes.Buffer
		err := Sign(&b, strings.NewReader(mailString), &SignOptions{
			Domain: "example.org", Selector: "brisbane", Signer: testPrivateKey, Identifier: tc.identifier,
		})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Verify(&b)
		if err != nil || len(vs) != 1 {
			t.Fatalf("i=%s: %d verifications, %v", tc.identifier, len(vs), err)
		}
		if ok := vs[0].Err == nil; ok != tc.ok {
			t.Errorf("i=%s: error %v, want ok %v", tc.identifier, vs[0].Err, tc.ok)
		}
		if tc.ok && vs[0].Identifier != tc.identifier {
			t.Errorf("i=%s: Identifier %q", tc.identifier, vs[0].Identifier)
		}
	}
}

// TestRemoveSignature (authmilter patch): only the b= tag's value is
// removed; tags whose names end in "b" (zb=) and "b=" inside other values
// are left alone. Where v0.7.0's regexp removed the right value, the output
// is the same as its.
func TestRemoveSignature(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"DKIM-Signature: a=rsa-sha256; b=AbC+/=\r\n", "DKIM-Signature: a=rsa-sha256; b="},
		{"DKIM-Signature: b=AbC; d=x\r\n", "DKIM-Signature: b=; d=x\r\n"},
		{"DKIM-Signature: v=1;\r\n b =\r\n AbC\r\n dEf; d=x\r\n", "DKIM-Signature: v=1;\r\n b =; d=x\r\n"},
		{"DKIM-Signature: b=; d=x\r\n", "DKIM-Signature: b=; d=x\r\n"},
		{"DKIM-Signature: zb=keep; b=AbC; d=x\r\n", "DKIM-Signature: zb=keep; b=; d=x\r\n"},
		{"DKIM-Signature: ab=b=1; b=AbC\r\n", "DKIM-Signature: ab=b=1; b="},
		{"DKIM-Signature: bh=AbC; B=x; b=y\r\n", "DKIM-Signature: bh=AbC; B=x; b="},
		{"DKIM-Signature: z=Subject:b=1; b=y\r\n", "DKIM-Signature: z=Subject:b=1; b="},
	} {
		if got := removeSignature(tc.in); got != tc.want {
			t.Errorf("removeSignature(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestVerifyTagEndingInB (authmilter patch): a signature carrying a tag
// named zb= verifies. It is signed here by hand (the header hash is taken
// over the field as written with an empty b=, nothing removed), as dkimpy
// signs and verifies such a field.
func TestVerifyTagEndingInB(t *testing.T) {
	const hdr = "From: Joe SixPack <joe@football.example.com>\r\nSubject: zb\r\n"
	const body = "Hi.\r\n"
	bh := sha256.Sum256([]byte(body)) // simple: the body as it is
	value := " v=1; a=rsa-sha256; c=simple/simple; d=example.org; s=brisbane;\r\n zb=keep; xb=b=1;" +
		" h=from:subject; bh=" + base64.StdEncoding.EncodeToString(bh[:]) + ";\r\n b="
	h := sha256.New()
	h.Write([]byte(strings.SplitAfter(hdr, "\r\n")[0]))
	h.Write([]byte(strings.SplitAfter(hdr, "\r\n")[1]))
	h.Write([]byte("DKIM-Signature:" + value))
	sig, err := rsa.SignPKCS1v15(nil, testPrivateKey, crypto.SHA256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	msg := "DKIM-Signature:" + value + base64.StdEncoding.EncodeToString(sig) + "\r\n" + hdr + "\r\n" + body
	vs, err := Verify(strings.NewReader(msg))
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("verify: %v, %+v", err, vs)
	}
	vs, _ = Verify(strings.NewReader(strings.Replace(msg, "zb=keep", "zb=kept", 1)))
	if len(vs) != 1 || vs[0].Err == nil {
		t.Fatal("zb= is not covered by the signature")
	}
}

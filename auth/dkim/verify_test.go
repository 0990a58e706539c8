package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestBodyCanonMatchesLibrary compares this package's body hashes with the
// bh= go-msgauth writes, for awkward bodies, in 1- and 5-byte chunks.
func TestBodyCanonMatchesLibrary(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	bodies := []string{
		"", "\r\n", "\r\n\r\n", "a", "a\r\n", "a\r\n\r\n\r\n", " a \t b \r\n",
		"a  \r\n \r\n\t\r\n", "\r\n\r\nx", "a\rb\r\n", "a\r", "line\nbare lf\n\n",
		"x \r\n  y\t\r\n\r\n  \r\n", "\t\r\n", "a\r\r\n", "trailing ws   ",
		"a\r\r\n\r\n\rb", "a\n\r\r\nb\r", "a \r \r\n b", "\r\r\r\n\r\n",
		// Runs of empty lines longer than crlfRun, written out from it.
		"a\r\n" + strings.Repeat("\r\n", 2000) + "b\r\n", "a" + strings.Repeat(" \r\n", 1500) + "\rb",
		"a" + strings.Repeat("\r\r\n", 700) + strings.Repeat("\n", 1100) + "b",
		"\n", "\r", "\r\r", "\n\r", "\r \n", " \r\n", "a\r\r\n", "\r\n\r\r\n",
		"Hey\r\n\r\nHow r u?", "x\r\ry\r\n\r\n\rz \r", "a" + strings.Repeat("\r\n\r", 700) + "b",
		strings.Repeat("line with  spaces \t\r\n", 200) + "\r\n \r\n",
		// Runs past directRun (hashed without a copy): single spaces and
		// CRLFs inside one run, after held line breaks too.
		strings.Repeat("Pack my box with five dozen liquor jugs.\r\n", 300) + "end  \r\n\r\n",
		"x" + strings.Repeat("0123456789abcdef", 600) + "\r\n",
		"a \t\r\n\r\n" + strings.Repeat("0123456789abcdef", 600) + " \r\n",
		strings.Repeat("bare LF line\n", 300) + "\n\n",
	}
	for _, body := range bodies {
		for _, bc := range []string{"simple", "relaxed"} {
			msg := "From: a@example.com\r\n\r\n" + body
			got := libBodyHash(t, key, bc, msg)
			for _, chunk := range []int{1, 2, 5, 7, 64, 1 << 10, 1 << 20} {
				if own := ownBodyHash(bc, body, chunk); own != got {
					t.Errorf("%s body %q chunk %d: own bh %s, go-msgauth %s", bc, body, chunk, own, got)
				}
			}
		}
	}
}

func libBodyHash(t testing.TB, key crypto.Signer, bodyCanon, msg string) string {
	var signed bytes.Buffer
	if err := msgauth.Sign(&signed, strings.NewReader(msg), &msgauth.SignOptions{
		Domain: "example.com", Selector: "s", Signer: key,
		BodyCanonicalization: msgauth.Canonicalization(bodyCanon),
	}); err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(signed.String(), "bh=")
	bh, _, _ := strings.Cut(after, ";")
	return bh
}

func ownBodyHash(bodyCanon, body string, chunk int) string {
	c := newBodyState(bodyCanon == "relaxed", -1)
	b := []byte(body)
	for len(b) > 0 {
		k := min(chunk, len(b))
		c.canon.write(b[:k])
		b = b[k:]
	}
	c.close()
	return base64.StdEncoding.EncodeToString(c.sum)
}

// signWithLength signs msg (CRLF, header and body) with an l= tag: length
// is the number of canonicalized body octets to sign, -1 for all of them.
func signWithLength(t testing.TB, msg string, key crypto.Signer, length int64) string {
	t.Helper()
	return signOwn(t, msg, key, "d=example.com; s=sel;", length)
}

// signOwn signs msg (CRLF, header and body) with this package's
// canonicalization and header hash (checked against go-msgauth's signer by
// the differential tests), c=relaxed/relaxed, h=from:subject. tags are the tags after
// c= (d=, s=, any others); length is as for signWithLength, or noLength for
// no l= tag.
func signOwn(t testing.TB, msg string, key crypto.Signer, tags string, length int64) string {
	t.Helper()
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	limit := length
	if length == noLength {
		limit = -1
	}
	c := newBodyState(true, limit)
	c.canon.write([]byte(body))
	c.close()
	lTag := ""
	if length != noLength {
		if length < 0 {
			length = c.n
		}
		lTag = fmt.Sprintf(" l=%d;", length)
	}
	bh := c.sum
	a := "rsa-sha256"
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		a = "ed25519-sha256"
	}
	value := fmt.Sprintf(" v=1; a=%s; c=relaxed/relaxed; %s\r\n%s h=from:subject; bh=%s;\r\n b=",
		a, tags, lTag, base64.StdEncoding.EncodeToString(bh))
	sig := &signature{headers: []string{"from", "subject"}, headerCanon: "relaxed"}
	field := "DKIM-Signature:" + value + "\r\n"
	sum, _ := headerHash(newFieldIndex(splitFields([]byte(hdr+"\r\n\r\n"))), field, sig, nil)
	var b []byte
	var err error
	if ek, ok := key.(ed25519.PrivateKey); ok {
		b = ed25519.Sign(ek, sum[:])
	} else if b, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:]); err != nil {
		t.Fatal(err)
	}
	return "DKIM-Signature:" + value + base64.StdEncoding.EncodeToString(b) + "\r\n" + msg
}

// noLength tells signOwn to sign without an l= tag.
const noLength = -2

func TestLengthTag(t *testing.T) {
	rsaKey := loadPrivateKey(t, "testdata/dkim-dkimpy/test.private")
	edKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	const msg = "From: a@example.com\r\nSubject: l= test\r\n\r\nHello  world \r\n\r\nbye\r\n\r\n"
	for _, key := range []crypto.Signer{rsaKey, edKey} {
		r := newFakeResolver()
		if ek, ok := key.Public().(ed25519.PublicKey); ok {
			r.add("sel._domainkey.example.com", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(ek))
		} else {
			r.add("sel._domainkey.example.com", strings.TrimSpace(string(readFile(t, "testdata/dkim-dkimpy/test.txt"))))
		}
		opts := Options{Resolver: r}
		full := signWithLength(t, msg, key, -1)
		part := signWithLength(t, msg, key, 5) // "Hello"
		tests := []struct {
			name, msg string
			result    Status
			reason    string
		}{
			{"l covers body", full, Pass, ""},
			{"l covers body, trailing blank lines added", full + "\r\n \r\n", Pass, ""},
			{"content appended", full + "more\r\n", Policy, "l= leaves 8 bytes unsigned"},
			{"l shorter than body", part, Policy, "l= leaves 15 bytes unsigned"},
			{"l longer than body", strings.Replace(full, "bye\r\n", "", 1), PermError, "l= exceeds the body length"},
			{"signed part changed", strings.Replace(full, "Hello", "Jello", 1), Fail, "body hash did not verify"},
			{"header changed", strings.Replace(full, "Subject: l=", "Subject: L=", 1), Fail, "signature did not verify"},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%T/%s", key, tc.name), func(t *testing.T) {
				got := verifyAllChunkings(t, []byte(tc.msg), opts)
				if len(got) != 1 || got[0].Result != tc.result || got[0].Reason != tc.reason {
					t.Fatalf("got %+v, want %s %q", got, tc.result, tc.reason)
				}
			})
		}
	}
}

// TestEmptyB: only the b= tag's value is removed before the header hash
// (RFC 6376 §3.7), surrounding whitespace and folds included; tags whose
// names end in "b" (zb=) and "b=" inside other values are left alone.
func TestEmptyB(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"DKIM-Signature: a=rsa-sha256; b=AbC+/=\r\n", "DKIM-Signature: a=rsa-sha256; b=\r\n"},
		{"DKIM-Signature: b=AbC; d=x\r\n", "DKIM-Signature: b=; d=x\r\n"},
		{"DKIM-Signature: v=1;\r\n b =\r\n AbC\r\n dEf; d=x\r\n", "DKIM-Signature: v=1;\r\n b =; d=x\r\n"},
		{"DKIM-Signature: b=; d=x\r\n", "DKIM-Signature: b=; d=x\r\n"},
		{"DKIM-Signature: zb=keep; b=AbC; d=x\r\n", "DKIM-Signature: zb=keep; b=; d=x\r\n"},
		{"DKIM-Signature: ab=b=1; b=AbC\r\n", "DKIM-Signature: ab=b=1; b=\r\n"},
		{"DKIM-Signature: bh=AbC; B=x; b=y\r\n", "DKIM-Signature: bh=AbC; B=x; b=\r\n"},
		{"DKIM-Signature: z=Subject:b=1; b=y\r\n", "DKIM-Signature: z=Subject:b=1; b=\r\n"},
	} {
		if got := emptyB(tc.in); got != tc.want {
			t.Errorf("emptyB(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCanonHeader: relaxed header canonicalization (RFC 6376 §3.4.2)
// unfolds, compresses SP and HTAB, and keeps a CR that is not part of CRLF:
// it is not WSP. (Fields without a bare CR are compared with go-msgauth
// v0.7.0 by FuzzSignedByLibrary.)
func TestCanonHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Subject: hi\rthere  \r\n", "subject:hi\rthere\r\n"},
		{"Subject: a \r b\r\n", "subject:a \r b\r\n"},
		{"Subject: hi \r\r\n", "subject:hi \r\r\n"},
		{"Subject:\r hi\r\n", "subject:\r hi\r\n"},
		{"From: <a@example.com>\rFrom: <b@evil.example>\r\n", "from:<a@example.com>\rFrom: <b@evil.example>\r\n"},
		{"SubjeCT: Your Name\r\n", "subject:Your Name\r\n"},
		{"Subject \t:\t Kimi \t \r\n No \t\r\n Na Wa\r\n", "subject:Kimi No Na Wa\r\n"},
		{"Subject: \t\r\n \r\n\t\r\n", "subject:\r\n"},
		{"no colon\r\n", "no colon:\r\n"},
		{"ÄB: x\r\n", "äb:x\r\n"},
	} {
		if got := string(appendCanonHeader(nil, tc.in, true)); got != tc.want {
			t.Errorf("relaxed %q = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(appendCanonHeader([]byte("x"), tc.in, false)); got != "x"+tc.in {
			t.Errorf("simple %q = %q", tc.in, got)
		}
	}
}

// pickReference is the picking of §5.4.2 written plainly (the fields of
// each h= name taken bottom-up, names compared with strings.EqualFold after
// lower-casing h=, as go-msgauth does): the reference for fieldIndex.
func pickReference(fields, names []string) []int {
	var picked []int
	used := map[string]int{}
	for _, name := range names {
		key := strings.ToLower(name)
		skip := used[key]
		used[key]++
		for i := len(fields) - 1; i >= 0; i-- {
			fname, _, _ := strings.Cut(fields[i], ":")
			if !strings.EqualFold(strings.TrimSpace(fname), key) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			picked = append(picked, i)
			break
		}
	}
	return picked
}

// pickIndexed is what headerHash picks through a fieldIndex.
func pickIndexed(fields, names []string) []int {
	x := newFieldIndex(fields)
	var picked []int
	next := map[string]int{}
	for _, name := range names {
		if i := x.pick(next, name); i >= 0 {
			picked = append(picked, i)
		}
	}
	return picked
}

// FuzzFieldPicking: fields picked through the index are those the plain
// bottom-up search picks, for any fields and h= names (Unicode folding and
// invalid UTF-8 included). The hash itself is checked by the corpora and the
// differential tests; the index keeps a long h= over many fields from
// costing names × fields.
func FuzzFieldPicking(f *testing.F) {
	f.Add("From: a\r\nSubject: 1\r\nsubject: 2\r\nTo: b\r\n", "from:Subject:SUBJECT:subject:to:x")
	f.Add("K: kelvin\r\nk: k\r\nſ: long s\r\nS: s\r\n\xff: a\r\n\xfe: b\r\nİ: i\r\n", "k:K:K:s:S:ſ:\xff:\xfe:\xfd:İ:i̇")
	f.Add("A:\r\n a : x\r\nno colon\r\n", "a:A:no colon:")
	f.Fuzz(func(t *testing.T, hdr, h string) {
		fields := strings.SplitAfter(hdr, "\r\n")
		names := strings.Split(h, ":")
		if got, want := pickIndexed(fields, names), pickReference(fields, names); !slices.Equal(got, want) {
			t.Fatalf("fields %q names %q: picked %v, want %v", fields, names, got, want)
		}
	})
}

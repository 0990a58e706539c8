package arc

import (
	"context"
	"strings"
	"testing"
)

// FuzzParse feeds ARC header fields and whole headers to the parsers and
// the verifier: no panic, and a chain is never pass without a key.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; t=12345; b=AAAA\r\n",
		"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=dummy;\r\n h=from:to::date; bh=AAAA; b=AAAA\r\n",
		"ARC-Authentication-Results: i=1; mx.example.org; spf=pass\r\n",
		"ARC-Seal: i=1; a=rsa-sha256;; cv=none\r\nARC-Seal: i=01; h=from\r\n",
		"ARC-Message-Signature: i=2; a=rsa-sha256; l=5; c=simple; d=x; s=y; h=; bh=; b=\r\nARC-Authentication-Results: i=2\r\n",
		"arc-seal: i=50; a=ed25519-sha256; cv=PASS; d=x; s=y; b=AA==\r\n\r\nbody\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		parseSeal(data)
		parseMsgSig(data)
		aarInstance(data)
		fields, body := SplitHeader([]byte(data))
		if !strings.HasPrefix(data, strings.Join(fields, "")) || !strings.HasSuffix(data, string(body)) {
			t.Fatalf("SplitHeader changed octets")
		}
		v := NewVerifier(Options{Resolver: zone{}}, fields)
		v.Write(body)
		if res := v.Result(context.Background()); res.Result == Pass {
			t.Fatalf("pass without keys: %+v", res)
		}
	})
}

// FuzzParseAAR feeds ARC-Authentication-Results values to ParseAAR: no
// panic, and never more results than the cap.
func FuzzParseAAR(f *testing.F) {
	for _, s := range []string{
		" i=1; lists.example.org; arc=none;\r\n\tspf=pass smtp.mailfrom=a@b.example; dmarc=pass (p=reject) header.from=b.example",
		"i=2; mx (comment; with (nested) semicolon); dkim=pass header.d=\"quoted;value\" header.s=sel",
		"i=1; x; spf/1=fail reason=\"a \\\" b\" smtp.mailfrom=@;;; =; a=",
		"i=1",
		"(unterminated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if rs := ParseAAR(v); len(rs) > maxAARResults {
			t.Fatalf("%d results", len(rs))
		}
	})
}

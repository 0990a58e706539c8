package arc

import (
	"context"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dkim"
)

// fold turns a suite header value (LF lines) into a folded field.
func fold(name, value string) string {
	return name + ": " + strings.ReplaceAll(strings.TrimRight(value, "\n"), "\n", "\r\n\t") + "\r\n"
}

// TestValiMailSigningAMS checks the expected ARC-Message-Signature of every
// signing case that adds a set: added to the message with its expected
// AAR, it verifies with our AMS check (TestValiMailSealing makes them
// with our Signer; the expected ARC-Seal b= values are not reproducible,
// testdata SOURCE.md).
func TestValiMailSigningAMS(t *testing.T) {
	n := 0
	for _, sc := range loadSignSuite(t) {
		for id, tc := range sc.Tests {
			if tc.AMS == "" {
				continue // no_additional_sig: the chain had failed, no new set
			}
			n++
			msg := fold(nameSeal, tc.AS) + fold(nameAMS, tc.AMS) + fold(nameAAR, tc.AAR) + crlf(tc.Message)
			fields, body := SplitHeader([]byte(msg))
			ams, err := parseMsgSig(fields[1])
			if err != nil {
				t.Errorf("%s: %v", id, err)
				continue
			}
			v := &Verifier{
				opts: Options{Resolver: zone(sc.TXT)}, fields: fields, sets: []set{{}},
				sigs: []*msgSig{ams}, seals: []*seal{{domain: ams.domain, sel: ams.sel}},
				bodies: []*dkim.BodyHasher{dkim.NewBodyHasher(ams.bodyRelaxed, ams.limit)},
			}
			v.Lookup(context.Background())
			v.Write(body)
			if r, _ := v.checkAMS(context.Background(), ams); r != "" {
				t.Errorf("%s: AMS: %s", id, r)
			}
		}
	}
	if n != 16 {
		t.Errorf("checked %d AMS, want 16", n)
	}
}

package auth_test

import (
	"context"
	"crypto/ed25519"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
)

// mapTXT serves TXT records from a map; other names do not exist.
type mapTXT map[string]string

func (m mapTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := m[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// FuzzSignMessage (seeds in testdata/fuzz/FuzzSignMessage): whatever the header fields (as an MTA hands them to a
// milter: name, value with LF folds) and body chunks, signing never
// panics, and each signature made verifies with our verifier on the
// message as the MTA stores it (the field inserted as "DKIM-Signature:"
// + " " + value, the header rebuilt as DKIM reads it).
func FuzzSignMessage(f *testing.F) {
	f.Add("From: a@sign.test\nSubject:nospace\nTo:  x@y.test\nX-F: a\n\tb", "body\r\n\r\n", 3)
	f.Add("From: a@sign.test\nFrom: b@sign.test", "x", 1)
	f.Add("From: Group: a@sign.test, b@other.test;", "", 1)
	f.Add("from:\ta@SUB.parent.test\nsubject: x\nsubject: y", "line \r\n\t\r\n", 2)
	f.Add("From: \"a\\\"b\" <a@sign.test>\nReferences: <1@x>\n <2@x>", "\xc3\xbc\r\n", 5)
	_, key, _ := ed25519.GenerateKey(nil)
	file := writeKey(f, key)
	rec, _ := dkim.KeyRecord(key)
	ev, err := auth.New(signConfig(
		auth.SignEntry{Domain: "sign.test", Selector: "r", Key: file},
		auth.SignEntry{Domain: "sign.test", Selector: "s", Key: file, Canonicalization: "simple/simple"},
		auth.SignEntry{Domain: "parent.test", Selector: "p", Key: file, Subdomains: true},
	), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	res := mapTXT{"r._domainkey.sign.test": rec, "s._domainkey.sign.test": rec, "p._domainkey.parent.test": rec}
	f.Fuzz(func(t *testing.T, head, body string, chunk int) {
		m := ev.NewSignMessage(auth.Envelope{AuthUser: "u"})
		var stored strings.Builder
		fields := splitLF(head)
		for _, f := range fields {
			name, value, _ := strings.Cut(f, ":")
			m.Header(name, value)
			stored.WriteString(name + ":" + strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n") + "\r\n")
		}
		m.EndHeaders()
		if chunk < 1 {
			chunk = 1
		}
		for b := []byte(body); len(b) > 0; {
			n := min(chunk, len(b))
			m.Body(b[:n])
			b = b[n:]
		}
		r := m.Finish()
		if r.NotSigned != "" || len(r.Signatures) == 0 {
			return
		}
		// Only messages whose fields rebuild exactly (no bare CR, a
		// plain name) can be compared byte for byte.
		if strings.ContainsAny(head, "\r") {
			return
		}
		var msg strings.Builder
		for i := len(r.Signatures) - 1; i >= 0; i-- {
			msg.WriteString("DKIM-Signature: " + r.Signatures[i] + "\r\n")
		}
		msg.WriteString(stored.String() + "\r\n" + body)
		v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: res})
		v.Write([]byte(msg.String()))
		for _, x := range v.Close() {
			if x.Result != dkim.Pass {
				t.Fatalf("s=%s: %s (%s)\n%q", x.Selector, x.Result, x.Reason, msg.String())
			}
		}
	})
}

// splitLF splits a header block given with LF line ends into fields,
// folds (lines starting with SP or HTAB) joined to their field with LF,
// the way an MTA hands them to a milter. Lines without a colon are dropped.
func splitLF(head string) []string {
	var out []string
	for _, line := range strings.Split(head, "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += "\n" + line
			continue
		}
		if strings.Contains(line, ":") {
			out = append(out, line)
		}
	}
	return out
}

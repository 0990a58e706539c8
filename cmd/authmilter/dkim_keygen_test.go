package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dkim"
)

// txtResolver serves one TXT record.
type txtResolver struct{ name, txt string }

func (r txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if strings.EqualFold(strings.TrimSuffix(name, "."), r.name) {
		return []string{r.txt}, nil
	}
	return nil, os.ErrNotExist
}

var quoted = regexp.MustCompile(`"([^"]*)"`)

// TestDKIMKeygen makes a key of each type, checks the file and the printed
// record (strings of at most 255 octets), then signs with the file and
// verifies against the printed record.
func TestDKIMKeygen(t *testing.T) {
	for _, alg := range []string{"ed25519", "rsa"} {
		dir := t.TempDir()
		var out, errOut bytes.Buffer
		args := []string{"dkim", "keygen", "-domain", "example.com", "-selector", "s2026", "-algorithm", alg, "-out", dir}
		if alg == "rsa" {
			args = append(args, "-bits", "3072") // a p= longer than 255 octets
		}
		if code := run(args, nil, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", alg, code, errOut.String())
		}
		path := filepath.Join(dir, "example.com.s2026.pem")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", alg, fi.Mode())
		}
		if !strings.Contains(out.String(), "s2026._domainkey.example.com. IN TXT (") {
			t.Errorf("%s: output %s", alg, out.String())
		}
		var record strings.Builder
		for _, m := range quoted.FindAllStringSubmatch(out.String(), -1) {
			if len(m[1]) > 255 {
				t.Errorf("%s: string of %d octets", alg, len(m[1]))
			}
			record.WriteString(m[1])
		}
		if alg == "rsa" && len(quoted.FindAllString(out.String(), -1)) < 2 {
			t.Errorf("rsa-3072 record not split: %s", out.String())
		}
		key, err := dkim.LoadSigningKey(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dkim.NewSigner(dkim.SignOptions{Keys: []dkim.SignKey{{Domain: "example.com", Selector: "s2026", Key: key}}})
		if err != nil {
			t.Fatal(err)
		}
		s.Header("From: a@example.com\r\n")
		s.Write([]byte("hello\r\n"))
		values, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: txtResolver{"s2026._domainkey.example.com", record.String()}})
		v.WriteString("DKIM-Signature: " + values[0] + "\r\nFrom: a@example.com\r\n\r\nhello\r\n")
		if res := v.Close(); len(res) != 1 || res[0].Result != dkim.Pass {
			t.Errorf("%s: %+v", alg, res)
		}
		// A second run does not overwrite the key.
		if code := run(args, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "exists") {
			t.Errorf("%s: second run: exit %d: %s", alg, code, errOut.String())
		}
	}
}

func TestDKIMKeygenUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"dkim"},
		{"dkim", "keygen", "-selector", "s", "-out", dir},
		{"dkim", "keygen", "-domain", "example.com", "-selector", "s", "-out", dir, "-algorithm", "dsa"},
		{"dkim", "keygen", "-domain", "example.com", "-selector", "s", "-out", dir, "-bits", "512"},
		{"dkim", "keygen", "-domain", "../x", "-selector", "s", "-out", dir, "-algorithm", "ed25519"},
		{"dkim", "keygen", "-domain", "bad_domain!", "-selector", "s", "-out", dir, "-algorithm", "ed25519"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, nil, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d: %s", args, code, errOut.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

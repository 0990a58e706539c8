package dkim_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// zone is a tiny in-memory TXTResolver; production passes a *dns.Resolver.
type zone map[string]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := z[name]; ok {
		return []string{txt}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

// The RFC 8463 example: one Ed25519 and one RSA signature, streamed in
// chunks as a milter receives the message.
func ExampleVerifier() {
	resolver := zone{
		"brisbane._domainkey.football.example.com": "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"test._domainkey.football.example.com":     "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
	}
	raw, err := os.ReadFile("testdata/dkim-rfc8463/signed.eml")
	if err != nil {
		panic(err)
	}
	msg := strings.ReplaceAll(string(raw), "\n", "\r\n") // the file has LF line ends

	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: resolver})
	for len(msg) > 0 {
		n := min(100, len(msg))
		v.Write([]byte(msg[:n])) // key lookups start when the header block ends
		msg = msg[n:]
	}
	for _, r := range v.Close() {
		fmt.Printf("dkim=%s header.d=%s header.s=%s header.a=%s header.b=%s bits=%d\n",
			r.Result, r.Domain, r.Selector, r.Algorithm, r.HeaderB, r.KeyBits)
	}
	// Output:
	// dkim=pass header.d=football.example.com header.s=brisbane header.a=ed25519-sha256 header.b=/gCrinpc bits=256
	// dkim=pass header.d=football.example.com header.s=test header.a=rsa-sha256 header.b=F45dVWDf bits=1024
}

// Verify is the same path for a message in a file or buffer.
func ExampleVerify() {
	msg := "From: joe@example.com\r\nSubject: unsigned\r\n\r\nHi.\r\n"
	results := dkim.Verify(context.Background(), strings.NewReader(msg), dkim.Options{Resolver: zone{}})
	fmt.Println(len(results), "signatures")
	// Output: 0 signatures
}

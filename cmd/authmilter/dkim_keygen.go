package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/authmilter/authmilter/auth/dkim"
)

const dkimUsage = `usage:
  authmilter dkim keygen -domain DOMAIN -selector SELECTOR [-algorithm rsa|ed25519] [-bits 2048] -out DIR
      writes DIR/DOMAIN.SELECTOR.pem (PKCS#8, mode 0600) and prints the DNS TXT record
  ` + checkKeysUsage + `
      compares every [[dkim.sign]] key with its DNS record
`

// runDKIM is "authmilter dkim": the keygen and check-keys subcommands.
func runDKIM(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-keys" {
		return runCheckKeys(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(stderr, dkimUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "signing `domain` (d=)")
	selector := fs.String("selector", "", "`selector` (s=)")
	algorithm := fs.String("algorithm", "rsa", "key `type`: rsa or ed25519")
	bits := fs.Int("bits", 2048, "RSA key size in `bits` (1024 to 8192)")
	out := fs.String("out", "", "`directory` for the private key file")
	fs.Usage = func() { fmt.Fprint(stderr, dkimUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "authmilter dkim keygen: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() != 0:
		return usageError("unexpected argument %q", fs.Arg(0))
	case *domain == "" || *selector == "" || *out == "":
		return usageError("-domain, -selector and -out are required")
	case strings.ContainsAny(*domain+*selector, "/\\ \t"):
		return usageError("bad -domain %q or -selector %q", *domain, *selector)
	case *algorithm == "rsa" && (*bits < dkim.MinSignRSABits || *bits > 8192):
		return usageError("-bits %d: RSA keys of %d to 8192 bits", *bits, dkim.MinSignRSABits)
	}
	var key crypto.Signer
	var err error
	switch *algorithm {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, *bits)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return usageError("-algorithm %q: rsa or ed25519", *algorithm)
	}
	if err != nil {
		fmt.Fprintln(stderr, "authmilter dkim keygen:", err)
		return 1
	}
	// The signer's own checks (d=, s= syntax) before anything is written.
	if _, err := dkim.NewSigner(dkim.SignOptions{Keys: []dkim.SignKey{{Domain: *domain, Selector: *selector, Key: key}}}); err != nil {
		return usageError("%v", err)
	}
	path := filepath.Join(*out, *domain+"."+*selector+".pem")
	if err := writeKey(path, key); err != nil {
		fmt.Fprintln(stderr, "authmilter dkim keygen:", err)
		return 1
	}
	record, err := dkim.KeyRecord(key)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter dkim keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "; private key: %s\n%s._domainkey.%s. IN TXT ( %s )\n",
		path, *selector, *domain, strings.Join(txtStrings(record), "\n\t"))
	if *algorithm == "rsa" && *bits < 2048 {
		fmt.Fprintf(stderr, "authmilter dkim keygen: warning: %d-bit RSA keys are weak; use 2048\n", *bits)
	}
	return 0
}

// writeKey writes key as a PKCS#8 PEM file of mode 0600, never over an
// existing file.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// txtStrings splits a TXT record into quoted character-strings of at most
// 255 octets each (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2: they are joined
// without separators).
func txtStrings(record string) []string {
	var out []string
	for len(record) > 0 {
		n := min(255, len(record))
		out = append(out, `"`+record[:n]+`"`)
		record = record[n:]
	}
	return out
}

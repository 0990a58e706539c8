package main

import (
	"fmt"
	"io"

	"github.com/authmilter/authmilter/auth/mime"
)

// signatureJSON is one S/MIME or OpenPGP signature (or encrypted part) in
// check message -json's "smime" and "openpgp" arrays.
type signatureJSON struct {
	Result      string `json:"result"`
	Part        string `json:"part"`
	Identifier  string `json:"identifier,omitempty"`
	Issuer      string `json:"issuer,omitempty"`
	Serial      string `json:"serial,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Encrypted   bool   `json:"encrypted,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// signaturesJSON returns the results of one method (never nil: an empty
// array in the output).
func signaturesJSON(rs []mime.Result, method mime.Method) []signatureJSON {
	out := []signatureJSON{}
	for _, r := range rs {
		if r.Method == method {
			out = append(out, signatureJSON{Result: string(r.Result), Part: r.Part, Identifier: r.Identifier,
				Issuer: r.Issuer, Serial: r.Serial, Fingerprint: r.Fingerprint, Encrypted: r.Encrypted, Reason: r.Reason})
		}
	}
	return out
}

// headerLines is headerLine for each value.
func headerLines(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, headerLine(v))
	}
	return out
}

// printSignatures writes the text output's signature lines.
func printSignatures(w io.Writer, j messageJSON) {
	for _, s := range []struct {
		name string
		list []signatureJSON
	}{{"smime", j.SMIME}, {"openpgp", j.OpenPGP}} {
		for _, r := range s.list {
			id := r.Fingerprint
			if r.Serial != "" {
				id = "serial " + r.Serial + " issuer " + r.Issuer
			}
			fmt.Fprintf(w, "%s: %s (part %s %s%s%s)\n", s.name, r.Result, r.Part, orNone(r.Identifier),
				prefixed(" ", id), prefixed("; ", r.Reason))
		}
	}
}

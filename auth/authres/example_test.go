package authres_test

import (
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/authres"
)

func ExampleFormat() {
	v := authres.Format("mx.example.org",
		&authres.SPFResult{Result: "pass", Identity: "bounce@a.example", Reason: "192.0.2.1 is allowed"},
		nil,
		[]authres.DKIMResult{{Result: "pass", Domain: "a.example", Selector: "s1", Signature: "dGhpcyBpcyBub3Q="}},
		&authres.DMARCResult{Result: "pass", From: "a.example", Policy: "reject"})
	// A milter that wants LF line ends converts the CRLF folds.
	fmt.Println(authres.FieldName + ": " + strings.ReplaceAll(v, "\r\n", "\n"))
	// Output:
	// Authentication-Results: mx.example.org;
	// 	spf=pass (192.0.2.1 is allowed) smtp.mailfrom=bounce@a.example;
	// 	dkim=pass header.d=a.example header.s=s1 header.b=dGhpcyBp;
	// 	dmarc=pass header.from=a.example policy.dmarc=reject
}

func ExampleAuthservID() {
	id, ok := authres.AuthservID("(comment; with (a) semicolon) MX.Example.ORG 1; spf=pass")
	fmt.Println(id, ok)
	fmt.Println(authres.HasAuthservID("mx.example.org; none", "MX.EXAMPLE.ORG"))
	// Output:
	// MX.Example.ORG true
	// true
}

func ExampleHasAuthservID() {
	forged := "(looks harmless; really) mx.example.org; dmarc=pass header.from=bank.example"
	fmt.Println(authres.HasAuthservID(forged, "mx.example.org"))
	// Output: true
}

package failure_test

import (
	"fmt"

	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/report/failure"
)

// A DMARC pass by DKIM alone: fo=0 asks for nothing, fo=1 for a report
// whose Identity-Alignment names SPF.
func ExampleDecide() {
	res := dmarc.Result{Result: dmarc.ResultPass, Domain: "example.com", RecordDomain: "example.com", DKIMAligned: true}
	for _, raw := range []string{
		"v=DMARC1; p=reject; ruf=mailto:ruf@example.com",
		"v=DMARC1; p=reject; ruf=mailto:ruf@example.com; fo=1",
		"v=DMARC1; p=reject; ruf=mailto:ruf@example.com; fo=1; psd=y",
	} {
		rec, _ := dmarc.ParseRecord(raw)
		fmt.Printf("%q\n", failure.Decide(failure.Input{Result: res, Record: rec}))
	}
	fmt.Println(failure.IdentityAlignment(res))
	// Output:
	// []
	// ["1"]
	// []
	// spf
}

// Local-parts become keyed tokens; domains stay.
func ExampleRedactor_Header() {
	red := failure.NewRedactor([]byte("secret key"))
	fmt.Printf("%s", red.Header([]byte("From: Alice <alice@example.com>\r\n")))
	// Output:
	// From: <redacted-tcajqqthh3cg523r@example.com>
}

package send_test

import (
	"context"
	"fmt"

	"github.com/authmilter/authmilter/auth/report/send"
)

type txt map[string]string

func (z txt) LookupTXT(_ context.Context, name string) ([]string, error) {
	return []string{z[name]}, nil
}

// A report destination outside the policy domain's organization is used
// only when it publishes its agreement; its rua may redirect reports to
// another address of the same host.
func ExampleVerify() {
	dns := txt{"example.com._report._dmarc.reports.example.net": "v=DMARC1; rua=mailto:agg@reports.example.net"}
	uris, err := send.Verify(context.Background(), dns, "example.com", "mailto:dmarc@reports.example.net")
	fmt.Println(uris, err)
	uris, err = send.Verify(context.Background(), dns, "example.com", "mailto:dmarc@example.com")
	fmt.Println(uris, err)
	// Output:
	// [mailto:agg@reports.example.net] <nil>
	// [mailto:dmarc@example.com] <nil>
}

package tlspolicy_test

import (
	"fmt"

	"github.com/authmilter/authmilter/auth/mtasts"
	"github.com/authmilter/authmilter/auth/tlspolicy"
)

func ExampleAnswer_Format() {
	a := tlspolicy.Answer{Kind: tlspolicy.OK, Level: "secure", Match: []string{"mx1.example.com", ".example.net"},
		Servername: "hostname", STS: &tlspolicy.STSInfo{Domain: "example.com",
			Policy: mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: 86400, MX: []string{"mx1.example.com"}}}}
	for _, version := range []string{"3.3", "3.7", "3.10"} {
		voc, _ := tlspolicy.VocabularyFor(version)
		fmt.Printf("%s: %s\n", version, a.Format(voc))
	}
	// Output:
	// 3.3: OK secure match=mx1.example.com:.example.net
	// 3.7: OK secure match=mx1.example.com:.example.net servername=hostname
	// 3.10: OK secure match=mx1.example.com:.example.net servername=hostname policy_type=sts policy_domain=example.com mx_host_pattern=mx1.example.com { policy_string = version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: mx1.example.com } { policy_string = max_age: 86400 }
}

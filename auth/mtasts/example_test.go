package mtasts_test

import (
	"fmt"

	"github.com/authmilter/authmilter/auth/mtasts"
)

func ExampleParsePolicy() {
	p, err := mtasts.ParsePolicy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MaxAge, p.MX)
	fmt.Println(p.Matches("mx1.example.net"), p.Matches("a.b.example.net"))
	// Output:
	// enforce 604800 [mail.example.com *.example.net]
	// true false
}

func ExampleParseRecord() {
	rec, isSTS, err := mtasts.ParseRecord("v=STSv1; id=20160831085700Z;")
	fmt.Println(rec.ID, isSTS, err)
	// Output: 20160831085700Z true <nil>
}

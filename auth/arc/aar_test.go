package arc

import (
	"reflect"
	"testing"
)

func TestParseAAR(t *testing.T) {
	got := ParseAAR(" i=1; lists.example.org (mx; 1);\r\n\tarc=none; spf=pass (sender ok) smtp.mailfrom=jqd@d1.example;\r\n\t" +
		"DKIM=pass header.d=\"D1.example\" header.s=s1; dmarc/1=fail header.from=d1.example; garbage")
	want := []AARResult{
		{Method: "arc", Result: "none", Props: map[string]string{}},
		{Method: "spf", Result: "pass", Props: map[string]string{"smtp.mailfrom": "jqd@d1.example"}},
		{Method: "dkim", Result: "pass", Props: map[string]string{"header.d": "D1.example", "header.s": "s1"}},
		{Method: "dmarc", Result: "fail", Props: map[string]string{"header.from": "d1.example"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := ParseAAR("i=1"); got != nil {
		t.Errorf("no authserv-id: %+v", got)
	}
}

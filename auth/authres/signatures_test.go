package authres

import "testing"

func TestFormatSignatures(t *testing.T) {
	got := FormatSignatures("mx.example.org", []SignatureResult{{
		Method: "smime", Result: "pass", Part: "TEXT", Identifier: "alice@example.test",
		Serial: "32110CC5A1DE5F478BA74BD88EB42265D82D77F6", Issuer: "CN=Test S-MIME CA",
	}, {Method: "smime", Result: "policy", Part: "1", Serial: "01", Reason: "untrusted"}})
	want := "mx.example.org;\r\n" +
		"\tsmime=pass body.smime-identifier=alice@example.test body.smime-part=TEXT\r\n" +
		"\tbody.smime-serial=32110CC5A1DE5F478BA74BD88EB42265D82D77F6\r\n" +
		"\tbody.smime-issuer=\"CN=Test S-MIME CA\";\r\n" +
		"\tsmime=policy (untrusted) body.smime-part=1"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	checkLines(t, got)
	got = FormatSignatures("mx.example.org", []SignatureResult{{Method: "x-openpgp", Result: "pass", Part: "TEXT",
		Identifier: "alice@example.test", Fingerprint: "B9039F1D0A8C7E4F1C6C1F3C2E0D9A8B7C6D5E4F"}})
	want = "mx.example.org;\r\n" +
		"\tx-openpgp=pass body.x-openpgp-identifier=alice@example.test\r\n" +
		"\tbody.x-openpgp-part=TEXT\r\n" +
		"\tbody.x-openpgp-fingerprint=B9039F1D0A8C7E4F1C6C1F3C2E0D9A8B7C6D5E4F"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	checkLines(t, got)
}

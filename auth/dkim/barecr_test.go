package dkim

import (
	"path/filepath"
	"strings"
	"testing"
)

// bareCRExpected is the DKIM result expected for each message of
// testdata/bare-cr (signed by dkimpy; README.md there says why).
var bareCRExpected = map[string]Status{
	"subj-simple-nol.eml": Pass, "subj-simple-l.eml": Pass,
	"subj-relaxed-nol.eml": Pass, "subj-relaxed-l.eml": Pass,
	"from-simple-nol.eml": Pass, "from-simple-l.eml": Pass,
	"from-relaxed-nol.eml": Pass, "from-relaxed-l.eml": Pass,
	"subjend-simple-nol.eml": Pass, "subjend-simple-l.eml": Pass,
	"subjend-relaxed-nol.eml": Fail, "subjend-relaxed-l.eml": Fail,
}

// TestBareCRDkimpy: a bare CR in a header field is an octet of the field,
// with and without l=,
// and relaxed header canonicalization keeps it, as dkimpy does.
func TestBareCRDkimpy(t *testing.T) {
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", strings.TrimSpace(string(readFile(t, "testdata/dkim-dkimpy/test.txt"))))
	files, err := filepath.Glob("testdata/bare-cr/*.eml")
	if err != nil || len(files) != len(bareCRExpected) {
		t.Fatalf("%d messages, want %d (%v)", len(files), len(bareCRExpected), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got := one(t, verifyAllChunkings(t, readFile(t, f), Options{Resolver: r}))
			if want := bareCRExpected[filepath.Base(f)]; got.Result != want {
				t.Fatalf("got %+v, want %s", got, want)
			}
		})
	}
}

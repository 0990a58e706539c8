package dkim

import (
	"sync"
	"testing"
)

// TestParsePublicKeyCached (authmilter patch): the cache gives what
// parsePublicKey gives, errors included, shares one result between callers,
// and stays bounded.
func TestParsePublicKeyCached(t *testing.T) {
	good := "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	for _, rec := range []string{good, dnsRawRSAPublicKey, "v=DKIM1; p=", "v=DKIM2; p=abc", "k=rsa; p=!!"} {
		want, wantErr := parsePublicKey(rec)
		for i := 0; i < 2; i++ {
			got, err := parsePublicKeyCached(rec)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("%q: error %v, want %v", rec, err, wantErr)
			}
			if err == nil && (got.KeyAlgo != want.KeyAlgo || got.Verifier == nil) {
				t.Fatalf("%q: %+v, want %+v", rec, got, want)
			}
			if err != nil && !IsPermFail(err) {
				t.Fatalf("%q: %v is not a permanent failure", rec, err)
			}
		}
	}
	a, _ := parsePublicKeyCached(good)
	b, _ := parsePublicKeyCached(good)
	if a != b {
		t.Error("second lookup parsed the record again")
	}

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 3*maxParsedKeys; i++ {
				rec := good + "; n=" + string(rune('a'+g)) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
				if _, err := parsePublicKeyCached(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	parsedKeys.Lock()
	n := len(parsedKeys.m)
	parsedKeys.Unlock()
	if n > maxParsedKeys {
		t.Errorf("cache holds %d records, bound %d", n, maxParsedKeys)
	}
	long := good + "; n=" + string(make([]byte, maxParsedKeyLen))
	x, _ := parsePublicKeyCached(long)
	y, _ := parsePublicKeyCached(long)
	if x == y {
		t.Error("a record over maxParsedKeyLen was cached")
	}
}

package dkim

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestDescribeFromParsed: the descriptive fields taken from a parsed
// signature are those describe reads from its value.
func TestDescribeFromParsed(t *testing.T) {
	for _, v := range []string{
		" v=1; a=rsa-sha256; c=relaxed/relaxed; d=Example.COM; s=sel;\r\n h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n b=abc def\r\n ghijk",
		"v=1;a=ED25519-SHA256;d=example.org;s=s1;i=us=40er@Mail.Example.ORG;h=From;bh=AA==;b=AB",
		"v=1; a=rsa-sha1; d=x.test; s= a ; h=from; bh=AA==; b=A",
	} {
		sig, err := parseSignature(v)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		want := describe(v)
		if got := (&sigState{value: v, sig: sig}).describe(); got != want {
			t.Errorf("%q:\n parsed %+v\n value  %+v", v, got, want)
		}
	}
	bad := "v=1; d=example.com; garbage"
	if got, want := (&sigState{value: bad}).describe(), describe(bad); got != want {
		t.Errorf("unparsed: %+v, want %+v", got, want)
	}
}

// TestKeyCache: the cache gives parseKeyRecord's answers, errors
// included, one parse per record text shared by its users, stays within its
// size under concurrent use, and keeps no long records; a nil cache parses.
func TestKeyCache(t *testing.T) {
	good := "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	c := NewKeyCache(0)
	for _, rec := range []string{good, "v=DKIM1; p=", "v=DKIM2; p=AA==", "k=rsa; p=!!"} {
		want, wantErr := parseKeyRecord(rec)
		for _, cache := range []*KeyCache{c, c, nil} {
			got, err := cache.parse(rec)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("%q: error %v, want %v", rec, err, wantErr)
			}
			if err == nil && (got.keyType != want.keyType || got.bits != want.bits) {
				t.Fatalf("%q: %+v, want %+v", rec, got, want)
			}
		}
	}
	a, _ := c.parse(good)
	b, _ := c.parse(good)
	if a != b {
		t.Error("second lookup parsed the record again")
	}
	if x, _ := (*KeyCache)(nil).parse(good); x == a {
		t.Error("a nil cache shared a parsed record")
	}
	long := good + "; n=" + strings.Repeat("x", maxCachedKeyLen)
	x, _ := c.parse(long)
	y, _ := c.parse(long)
	if x == y || c.lru.Contains(long) {
		t.Error("a record over maxCachedKeyLen was cached")
	}

	small := NewKeyCache(8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := small.parse(fmt.Sprintf("%s; n=%d-%d", good, g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := small.lru.Len(); n > 8 {
		t.Errorf("cache holds %d records, size 8", n)
	}
}

package dkim

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// fakeResolver serves TXT records from memory; unknown names are NXDOMAIN.
type fakeResolver struct {
	mu      sync.Mutex
	txt     map[string][]string
	errs    map[string]error
	queries map[string]int
	block   chan struct{} // if set, lookups wait for it (or ctx)
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{txt: map[string][]string{}, errs: map[string]error{}, queries: map[string]int{}}
}

func (f *fakeResolver) add(name string, txt ...string) {
	name = canonName(name)
	f.txt[name] = append(f.txt[name], txt...)
}

func (f *fakeResolver) fail(name string, cause error) {
	f.errs[canonName(name)] = dns.NewError(cause, name)
}

func canonName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

func (f *fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	f.queries[canonName(name)]++
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, dns.NewError(dns.ErrTimeout, name)
		}
	}
	n := canonName(name)
	if err := f.errs[n]; err != nil {
		return nil, err
	}
	if txt, ok := f.txt[n]; ok {
		return append([]string(nil), txt...), nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (f *fakeResolver) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[canonName(name)]
}

// toCRLF turns bare LF line ends into CRLF (CRLF stays as it is).
func toCRLF(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/32)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyChunked streams msg into a Verifier in chunks of size n, through
// WriteString instead of Write when asString.
func verifyChunked(msg []byte, n int, asString bool, opts Options) []Result {
	v := NewVerifier(context.Background(), opts)
	for len(msg) > 0 {
		k := min(n, len(msg))
		if asString {
			v.WriteString(string(msg[:k]))
		} else {
			v.Write(msg[:k])
		}
		msg = msg[k:]
	}
	return v.Close()
}

// chunkings are the ways verifyAllChunkings writes a message.
var chunkings = []struct {
	n        int
	asString bool
}{{64 << 10, false}, {7, false}, {1, false}, {7, true}, {64 << 10, true}}

// verifyAllChunkings verifies msg with 1-, 7- and 64 KiB chunks (the 7- and
// 64 KiB ones also through WriteString) and fails the test unless all give
// the same results, which it returns.
func verifyAllChunkings(t *testing.T, msg []byte, opts Options) []Result {
	t.Helper()
	var first []Result
	for _, c := range chunkings {
		got := verifyChunked(msg, c.n, c.asString, opts)
		if first == nil {
			first = got
			continue
		}
		if !equalResults(first, got) {
			t.Fatalf("chunk size %d (string %v): results differ:\n%+v\nvs 64 KiB:\n%+v", c.n, c.asString, got, first)
		}
	}
	return first
}

func equalResults(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fixedNow(sec int64) func() time.Time {
	return func() time.Time { return time.Unix(sec, 0) }
}

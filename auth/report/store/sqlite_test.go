package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLite runs the Store suite on SQLite: two stores on one file stand
// for two processes sharing it.
func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) (Store, Store) {
		path := filepath.Join(t.TempDir(), "reports.db")
		return openTwo(t, func() (Store, error) { return OpenSQLite(context.Background(), path) })
	})
}

func openTwo(t *testing.T, open func() (Store, error)) (Store, Store) {
	t.Helper()
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

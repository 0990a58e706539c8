package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var pgSchemas atomic.Int64

// TestPostgres runs the Store suite on PostgreSQL when AUTHMILTER_PG_DSN
// names a database (.ci/run starts one on 127.0.0.1). Each case gets a
// schema of its own, dropped afterwards; two stores on it stand for two
// hosts.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("AUTHMILTER_PG_DSN")
	if dsn == "" {
		t.Skip("AUTHMILTER_PG_DSN not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	runSuite(t, func(t *testing.T) (Store, Store) {
		name := fmt.Sprintf("authmilter_test_%d_%d", os.Getpid(), pgSchemas.Add(1))
		ctx := context.Background()
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE")
		})
		sdsn := withSearchPath(dsn, name)
		return openTwo(t, func() (Store, error) { return OpenPostgres(ctx, sdsn) })
	})
}

// withSearchPath adds a search_path run-time parameter to a URL or
// key=value DSN.
func withSearchPath(dsn, schema string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

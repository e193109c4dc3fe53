package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestURL checks that each test gets its own empty, writable database on the
// shared cluster, with the C collation the engine's ordering relies on.
func TestURL(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := pgtest.URL(t)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("new database has %d tables, want 0", n)
			}
			if _, err := conn.Exec(ctx, "CREATE TABLE t (x text)"); err != nil {
				t.Fatal(err)
			}
			var coll string
			if err := conn.QueryRow(ctx, "SELECT datcollate FROM pg_database WHERE datname = current_database()").Scan(&coll); err != nil {
				t.Fatal(err)
			}
			if coll != "C" {
				t.Fatalf("collation %q, want C", coll)
			}
		})
	}
}

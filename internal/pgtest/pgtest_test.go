package pgtest_test

import (
	"context"
	"os"
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

// TestDurable checks that the throwaway cluster runs with fsync off, or on
// when $MQSH_TEST_PG_DURABLE asks for it (MQSH_TEST_PG_DURABLE=1 go test
// ./internal/pgtest/ checks the other way).
func TestDurable(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skip("a server of one's own keeps its own settings")
	}
	u := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	want := map[bool]string{false: "off", true: "on"}[pgtest.Durable()]
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("%s = %s, want %s", name, v, want)
		}
	}
}

package queue

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenCreatesSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var version, appID int
	var mode string
	q.writer.QueryRow("PRAGMA user_version").Scan(&version)
	q.writer.QueryRow("PRAGMA application_id").Scan(&appID)
	q.writer.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if version != len(migrations) || appID != applicationID || mode != "wal" {
		t.Errorf("version %d, application id %x, journal %s", version, appID, mode)
	}
	var fk int
	q.writer.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	if fk != 0 {
		t.Error("the writer enforces foreign keys: the verbs delete a message's rows themselves (orphans_test.go)")
	}
	if q.Path() != path {
		t.Errorf("Path() = %q", q.Path())
	}
	q.Close()
	// Reopening does not migrate again and keeps the data.
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, q, Filter{}); n != 6 {
		t.Errorf("count = %d", n)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		setup func() string
		want  []string
	}{
		{"missing directory", func() string { return filepath.Join(dir, "nope", "q.db") }, []string{"directory", filepath.Join(dir, "nope"), "does not exist", "mkdir -p"}},
		{"a directory", func() string { return dir }, []string{"is a directory"}},
		{"not sqlite", func() string {
			p := filepath.Join(dir, "text.db")
			os.WriteFile(p, []byte(strings.Repeat("this is not a database\n", 500)), 0o644)
			return p
		}, []string{"not an mqsh queue", "not an SQLite database"}},
		{"another sqlite database", func() string {
			p := filepath.Join(dir, "other.db")
			db, _ := sql.Open("sqlite3", p)
			db.Exec("CREATE TABLE t(x)")
			db.Close()
			return p
		}, []string{"SQLite database but not an mqsh queue"}},
		{"newer schema", func() string {
			p := filepath.Join(dir, "newer.db")
			q, err := Open(p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			q.writer.Exec("PRAGMA user_version = 99")
			q.Close()
			return p
		}, []string{"schema version 99", "newer than this mqsh", "upgrade mqsh"}},
		{"damaged", func() string {
			p := filepath.Join(dir, "damaged.db")
			q, err := Open(p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			q.LoadDemo(t.Context(), 200, 1)
			q.Close()
			b, _ := os.ReadFile(p)
			// Keep the header, overwrite the schema page and beyond.
			for i := 100; i < len(b); i++ {
				b[i] = 0x5A
			}
			os.WriteFile(p, b, 0o644)
			return p
		}, []string{"damaged", "backup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := Open(c.setup(), Options{})
			if err == nil {
				q.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.LoadDemo(t.Context(), 10, 1)
	q.Close()

	check := func(t *testing.T, q *Queue, want string) {
		if !q.ReadOnly() {
			t.Error("not read-only")
		}
		if n := mustCount(t, q, Filter{}); n != 16 {
			t.Errorf("count = %d", n)
		}
		if _, err := q.Get(t.Context(), 0x52B91F716); err != nil {
			t.Error(err)
		}
		_, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}})
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), want) {
			t.Errorf("retry on a read-only queue: %v", err)
		}
		if _, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.c", Recipients: []EnvelopeRecipient{{Address: "d@e.f"}}}, nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("enqueue on a read-only queue: %v", err)
		}
		err = q.View(t.Context(), func(tx *Tx) error {
			_, err := tx.Cancel(CancelRequest{Filter: Filter{All: true}})
			return err
		})
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("cancel in a view: %v", err)
		}
	}
	t.Run("option", func(t *testing.T) {
		q, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		check(t, q, "was opened read-only")
	})
	t.Run("file mode", func(t *testing.T) {
		os.Chmod(path, 0o444)
		defer os.Chmod(path, 0o644)
		q, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		check(t, q, "is read-only (the file has no write permission)")
	})
	t.Run("read-only file that does not exist", func(t *testing.T) {
		_, err := Open(filepath.Join(t.TempDir(), "none.db"), Options{ReadOnly: true})
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("got %v", err)
		}
	})
}

func TestEmptyFileBecomesQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	os.WriteFile(path, nil, 0o644)
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
}

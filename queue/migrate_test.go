package queue

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"migrations/0001_queue.sql": {Data: []byte("CREATE TABLE a(x);")},
		"migrations/0002_more.sql":  {Data: []byte("CREATE TABLE b(x);")},
	}
	if steps := LoadMigrations(good); len(steps) != 2 || steps[1] != "CREATE TABLE b(x);" {
		t.Errorf("steps %q", steps)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"a gap":        {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"no number":    {"migrations/0001_a.sql": {}, "migrations/more.sql": {}},
		"not sql":      {"migrations/0001_a.txt": {}},
		"short number": {"migrations/1_a.sql": {}},
		"none":         {"migrations/README": {}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("accepted")
				}
			}()
			LoadMigrations(fsys)
		})
	}
	if len(migrations) == 0 || !strings.Contains(migrations[0], "CREATE TABLE messages(") {
		t.Error("the embedded first step is not the queue")
	}
}

// A queue of an older schema is brought up to date by the steps it lacks,
// keeping its data, and the new version is recorded; the older program then
// refuses the file.
func TestMigrationUpgradesAndIsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.LoadDemo(t.Context(), 0, 1)
	q.Close()

	old := migrations
	migrations = append(migrations[:len(old):len(old)], "CREATE TABLE extra(x); INSERT INTO extra VALUES (42);")
	q, err = Open(path, Options{})
	if err != nil {
		migrations = old
		t.Fatal(err)
	}
	var version, x int
	q.writer.QueryRow("PRAGMA user_version").Scan(&version)
	q.writer.QueryRow("SELECT x FROM extra").Scan(&x)
	if version != len(old)+1 || x != 42 || mustCount(t, q, Filter{}) != 6 {
		t.Errorf("after the upgrade: version %d, extra %d, %d messages", version, x, mustCount(t, q, Filter{}))
	}
	q.Close()
	migrations = old

	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this mqsh understands") {
		t.Errorf("the older program opened a newer schema: %v", err)
	}
}

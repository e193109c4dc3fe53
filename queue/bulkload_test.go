package queue

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaObjects reads the definitions of the indexes and triggers of the
// queue (name -> SQL) through q's reader, or through tx when given.
func schemaObjects(t *testing.T, q *Queue, tx *Tx) map[string]string {
	t.Helper()
	const query = "SELECT name, sql FROM sqlite_schema WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
	var err error
	out := map[string]string{}
	read := func(name, sql string) { out[name] = sql }
	if tx != nil {
		rows, e := tx.tx.QueryContext(tx.ctx, query)
		if e != nil {
			t.Fatal(e)
		}
		defer rows.Close()
		for rows.Next() {
			var name, sql string
			if err = rows.Scan(&name, &sql); err != nil {
				t.Fatal(err)
			}
			read(name, sql)
		}
		err = rows.Err()
	} else {
		rows, e := q.reader.Query(query)
		if e != nil {
			t.Fatal(e)
		}
		defer rows.Close()
		for rows.Next() {
			var name, sql string
			if err = rows.Scan(&name, &sql); err != nil {
				t.Fatal(err)
			}
			read(name, sql)
		}
		err = rows.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoJSONLines writes n generated messages as JSON Lines.
func demoJSONLines(t *testing.T, n int, seed int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := generateDemo(n, seed, testNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		b, err := m.MarshalJSON()
		buf.Write(b)
		buf.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// demoMessages generates n messages.
func demoMessages(t *testing.T, n int, seed int64) []*Message {
	t.Helper()
	var out []*Message
	err := generateDemo(n, seed, testNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		c := *m
		out = append(out, &c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportIntoEmptyQueueLoadsInBulkAtOnce: an import into an empty queue
// drops the secondary indexes after its first full batch, rather than growing
// them row by row until bulkAfter messages; an import into a queue bigger
// than it has added so far keeps them.
func TestImportIntoEmptyQueueLoadsInBulkAtOnce(t *testing.T) {
	q, _ := openTest(t)
	before := schemaObjects(t, q, nil)
	msgs := demoMessages(t, 2*insertBatch, 3)
	err := q.Update(t.Context(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		ins.bulk = true
		if err := addAll(q, ins, msgs[:insertBatch]); err != nil {
			return err
		}
		if len(ins.dropped) == 0 {
			t.Errorf("after the first full batch of an import into an empty queue no index was dropped")
		}
		during := schemaObjects(t, q, tx)
		for name := range ins.dropped {
			if _, ok := during[name]; ok {
				t.Errorf("index %s is said dropped but is still there", name)
			}
		}
		if _, ok := during["domains_shape_fill"]; !ok {
			t.Errorf("the trigger domains_shape_fill went with the indexes")
		}
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := schemaObjects(t, q, nil); !maps.Equal(after, before) {
		t.Errorf("indexes and triggers after the import:\n%v\nwant\n%v", after, before)
	}
	if n := mustCount(t, q, Filter{All: true}); n != insertBatch {
		t.Errorf("queued %d, want %d", n, insertBatch)
	}

	// The queue now holds insertBatch messages: an import of as many more
	// may switch only once it has added more than the queue held.
	err = q.Update(t.Context(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		ins.bulk = true
		for i, m := range msgs[insertBatch:] {
			if err := normalizeMessage(m, q.clock, q.sched.Expire, true); err != nil {
				return err
			}
			if err := ins.add(m, nil, 0); err != nil {
				return err
			}
			if i == insertBatch-2 && len(ins.dropped) != 0 {
				t.Errorf("indexes dropped before the import added as many messages as the queue held")
			}
		}
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := schemaObjects(t, q, nil); !maps.Equal(after, before) {
		t.Errorf("indexes and triggers after the second import differ:\n%v\nwant\n%v", after, before)
	}
}

// TestBulkImportKeepsDefinitions: a bulk import gives back every index with
// the definition sqlite_schema had (partial indexes' WHERE and collations
// included) and leaves the triggers alone; one that fails after the switch
// changes nothing, indexes included.
func TestBulkImportKeepsDefinitions(t *testing.T) {
	q, _ := openTest(t)
	before := schemaObjects(t, q, nil)
	if len(before) < 15 || !strings.Contains(before["messages_client_user"], "COLLATE NOCASE") {
		t.Fatalf("unexpected schema: %v", before)
	}
	lines := demoJSONLines(t, 3*insertBatch, 5)
	bad := append(slices.Clip(lines), "{broken\n"...)
	_, err := q.ImportJSON(t.Context(), bytes.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", 3*insertBatch+1)) || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("import with a bad last line: %v", err)
	}
	if n := mustCount(t, q, Filter{All: true}); n != 0 {
		t.Errorf("the failed import left %d messages", n)
	}
	if after := schemaObjects(t, q, nil); !maps.Equal(after, before) {
		t.Errorf("indexes and triggers after the failed import:\n%v\nwant\n%v", after, before)
	}
	res, err := q.ImportJSON(t.Context(), bytes.NewReader(lines))
	if err != nil || res.Count != 3*insertBatch {
		t.Fatalf("import: %d, %v", res.Count, err)
	}
	if after := schemaObjects(t, q, nil); !maps.Equal(after, before) {
		t.Errorf("indexes and triggers after the import:\n%v\nwant\n%v", after, before)
	}
	var bad2 int
	if err := q.reader.QueryRow("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'").Scan(&bad2); err != nil || bad2 != 0 {
		t.Errorf("integrity check: %d problems, %v", bad2, err)
	}
	checkDue(t, q)
}

// TestBulkImportKeepsPartialIndexesOfAnyLayout: an import into an empty queue
// keeps every partial index that none of its first batch's rows match (the
// demo's messages match none of the shape, hold, or client indexes),
// whatever the whitespace before WHERE in its definition, so that the
// rebuild does not scan a table for an index that stays empty.
func TestBulkImportKeepsPartialIndexesOfAnyLayout(t *testing.T) {
	q, _ := openTest(t)
	def := regexp.MustCompile(`(?is)^CREATE INDEX \w+ ON (\w+)\(.*?\)\s+WHERE\s+(.*)$`)
	partial := map[string][]string{} // name -> table, condition
	for name, sql := range schemaObjects(t, q, nil) {
		if m := def.FindStringSubmatch(sql); m != nil {
			partial[name] = m[1:]
		}
	}
	for _, name := range []string{"domains_shape_odd", "messages_shape_odd", "domains_hold"} {
		if partial[name] == nil {
			t.Fatalf("unexpected schema: %s is not a partial index (partial: %v)", name, slices.Sorted(maps.Keys(partial)))
		}
	}
	msgs := demoMessages(t, insertBatch, 11)
	err := q.Update(t.Context(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		ins.bulk = true
		if err := addAll(q, ins, msgs); err != nil {
			return err
		}
		if len(ins.dropped) == 0 {
			t.Errorf("after the first full batch of an import into an empty queue no index was dropped")
		}
		for _, name := range slices.Sorted(maps.Keys(partial)) {
			if _, ok := ins.dropped[name]; !ok {
				continue
			}
			table, cond := partial[name][0], partial[name][1]
			var matched bool
			if err := tx.tx.QueryRowContext(tx.ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE "+cond+")").Scan(&matched); err != nil {
				return err
			}
			if !matched {
				t.Errorf("partial index %s was dropped though no row of %s matches it: its rebuild scans the table for nothing", name, table)
			}
		}
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	var bad int
	if err := q.reader.QueryRow("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'").Scan(&bad); err != nil || bad != 0 {
		t.Errorf("integrity check: %d problems, %v", bad, err)
	}
}

// addAll adds msgs through ins as an import does, each made ready first.
func addAll(q *Queue, ins *inserter, msgs []*Message) error {
	for _, m := range msgs {
		if err := normalizeMessage(m, q.clock, q.sched.Expire, true); err != nil {
			return err
		}
		if err := ins.add(m, nil, 0); err != nil {
			return err
		}
	}
	return nil
}

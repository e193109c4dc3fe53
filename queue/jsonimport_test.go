package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The lines of an import are decoded in chunks on several goroutines: the
// error reported is still the first in input order, named by its line, with
// blank lines counted, whichever chunk holds it and however the chunks
// finish; and nothing is imported.
func TestImportErrorsAcrossChunks(t *testing.T) {
	q, _ := openTest(t)
	put(t, q, msg(5, "a@b.c", t0, "d@e.f"))
	good := `{"id":10,"return_path":"a@b.c","domains":[{"name":"e.f","recipients":[{"address":"d@e.f"}]}],"created":"2025-01-01T00:00:00Z"}`
	line := func(id int) string { return strings.Replace(good, `"id":10`, `"id":`+strconv.Itoa(id), 1) }
	bad := `{oops`
	// lines builds an input of n lines: message 1000+i on line i, a blank
	// line every 97th, and the lines given instead on their numbers.
	lines := func(n int, at map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			s, ok := at[i]
			switch {
			case ok:
			case i%97 == 0:
				s = ""
			default:
				s = line(1000 + i)
			}
			b.WriteString(s + "\n")
		}
		return b.String()
	}
	cases := []struct {
		name, input, want string
	}{
		{"bad line in a late chunk", lines(3000, map[int]string{2900: bad}), "line 2900: not a JSON message object"},
		{"first of two bad lines", lines(3000, map[int]string{2900: bad, 700: bad}), "line 700: not a JSON message object"},
		{"twice, chunks apart", lines(3000, map[int]string{2500: line(1003)}), "line 2500: message 3EB appears twice (first on line 3)"},
		{"twice before a bad line", lines(3000, map[int]string{1500: line(1003), 1501: bad}), "line 1500: message 3EB appears twice (first on line 3)"},
		{"bad line before twice", lines(3000, map[int]string{1400: bad, 1500: line(1003)}), "line 1400: not a JSON message object"},
		{"queued before twice in one chunk", lines(3000, map[int]string{1300: line(5), 1301: line(1003)}), "line 1300: message 5 is already in the queue"},
		{"twice before queued in one chunk", lines(3000, map[int]string{1300: line(1003), 1301: line(5)}), "line 1300: message 3EB appears twice"},
		{"last line", lines(2999, nil) + "{", "line 3000: not a JSON message object"},
		{"long line late", lines(2000, map[int]string{1990: `{"id":7,"x":"` + strings.Repeat("a", maxLineBytes) + `"}`}), "line 1990: longer than 16 MiB"},
	}
	before, audits := snapshot(t, q), auditCount(t, q)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := q.ImportJSON(t.Context(), strings.NewReader(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nothing was imported") {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if snapshot(t, q) != before || auditCount(t, q) != audits {
				t.Error("a failed import changed the queue")
			}
		})
	}
	// And the same input without its faults is imported whole, every id
	// kept, the lines counted in the audit.
	res, err := q.ImportJSON(t.Context(), strings.NewReader(lines(3000, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3000 - 3000/97; res.Count != want || res.Domains["e.f"] != want {
		t.Fatalf("imported %d (domains %v), want %d", res.Count, res.Domains, want)
	}
	for i, id := range res.IDs {
		if i > 0 && id <= res.IDs[i-1] {
			t.Fatalf("ids not ascending at %d: %v", i, res.IDs[i-1:i+1])
		}
	}
	if m := mustGet(t, q, 2999); m.ReturnPath != "a@b.c" {
		t.Errorf("message 2999: %+v", m)
	}
	var filter string
	if err := q.reader.QueryRow("SELECT filter FROM audit ORDER BY seq DESC LIMIT 1").Scan(&filter); err != nil {
		t.Fatal(err)
	}
	if want := ImportJSONAuditText(3000); filter != want {
		t.Errorf("audit filter %q, want %q", filter, want)
	}
}

// TestDecodeBothShapesSkipsRecipients: a line of both shapes (domains[] and
// recipients[], as MarshalJSON and Stalwart's v0.13 API write them) is read
// from its domains[]; the recipients[] beside them, as long again, is
// neither decoded into values, which half the decoding's allocations went
// to, nor copied.
func TestDecodeBothShapesSkipsRecipients(t *testing.T) {
	var line []byte
	generateDemo(200, 7, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), DefaultSchedule, func(_ int, m *Message, _ []byte) error {
		if line != nil || len(m.Domains) < 2 || len(m.Domains[0].Recipients) < 2 {
			return nil
		}
		line, _ = m.MarshalJSON()
		return nil
	})
	if line == nil {
		t.Fatal("no generated message of two domains and two recipients")
	}
	if !bytes.Contains(line, []byte(`"recipients":[{"address"`)) || !bytes.Contains(line, []byte(`"domains":[`)) {
		t.Fatalf("the line does not carry both shapes: %s", line)
	}
	clock := func() time.Time { return time.Unix(1768478400, 0) }
	ms, err := decodeLine(line, clock, DefaultSchedule.Expire)
	if err != nil || len(ms) != 1 {
		t.Fatalf("decodeLine: %v, %d messages", err, len(ms))
	}
	// The same message decoded from domains[] alone, for the count of
	// allocations a line needs without the recipients[].
	var only map[string]json.RawMessage
	if err := json.Unmarshal(line, &only); err != nil {
		t.Fatal(err)
	}
	delete(only, "recipients")
	domainsOnly, _ := json.Marshal(only)
	ms2, err := decodeLine(domainsOnly, clock, DefaultSchedule.Expire)
	if err != nil || !reflect.DeepEqual(ms[0].Domains, ms2[0].Domains) {
		t.Fatalf("domains[] alone read differently (%v):\n%+v\n%+v", err, ms[0].Domains, ms2[0].Domains)
	}
	both := testing.AllocsPerRun(50, func() { decodeLine(line, clock, DefaultSchedule.Expire) })
	alone := testing.AllocsPerRun(50, func() { decodeLine(domainsOnly, clock, DefaultSchedule.Expire) })
	t.Logf("allocations: both shapes %.0f, domains[] alone %.0f", both, alone)
	if both > alone {
		t.Errorf("a line of both shapes takes %.0f allocations to decode, domains[] alone %.0f: recipients[] is decoded or copied although domains[] is read", both, alone)
	}
}

// TestBulkImportKeepsEmptyPartialIndexes: a bulk load keeps the partial
// indexes that no row matches when it starts (the subject, Message-ID,
// client and hold indexes of an export without texts or holds), so that
// rebuilding them does not scan a table for nothing; rows that match later
// in the import still reach them, and every index is whole afterwards.
func TestBulkImportKeepsEmptyPartialIndexes(t *testing.T) {
	q, _ := openTest(t)
	const n = 3 * insertBatch
	var dropped []string
	err := q.Update(t.Context(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		ins.bulk = true
		for i := 1; i <= n; i++ {
			m := &Message{ID: ID(i), ReturnPath: fmt.Sprintf("s%d@sender.example", i%7), Created: testNow,
				Domains: []Domain{{Name: fmt.Sprintf("d%d.example", i%5), Recipients: []Recipient{{Address: fmt.Sprintf("r%d@d%d.example", i, i%5)}}}}}
			var raw []byte
			if i > 2*insertBatch && i%2 == 0 { // held, from a client, with a text: late in the import
				m.Domains[0].Hold = &Hold{By: "ops", Since: testNow}
				m.Client = Client{IP: fmt.Sprintf("192.0.2.%d", i%250), User: fmt.Sprintf("U%d", i%3)}
				raw = fmt.Appendf(nil, "Subject: Report %d\r\nMessage-ID: <m%d@sender.example>\r\n\r\nhello\r\n", i, i)
			}
			if err := tx.q.normalize(m); err != nil {
				return err
			}
			if err := ins.add(m, raw, i); err != nil {
				return err
			}
			if i == 2*insertBatch {
				dropped = slices.Sorted(maps.Keys(ins.dropped))
			}
		}
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"domains_due", "domains_name", "domains_shape_odd", "messages_created", "messages_due", "messages_sender", "messages_sender_domain", "messages_shape_odd", "recipients_address"} // ids 1, 2 ... tell no creation time: every row is odd
	if !slices.Equal(dropped, want) {
		t.Errorf("the bulk load dropped %v, want %v (the partial indexes no row matched are kept)", dropped, want)
	}
	var ok string
	if err := q.reader.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %v %s", err, ok)
	}
	for _, c := range []struct{ table, index, where string }{
		{"messages", "messages_subject", "subject_lc IS NOT NULL"},
		{"messages", "messages_msgid", "msgid IS NOT NULL"},
		{"messages", "messages_client_ip", "client_ip IS NOT NULL"},
		{"messages", "messages_client_user", "client_user IS NOT NULL"},
		{"domains", "domains_hold", "status IN (0, 2) AND hold_since IS NOT NULL"},
		{"domains", "domains_due", "status IN (0, 2) AND hold_since IS NULL"},
	} {
		var viaIndex, total int
		q.reader.QueryRow("SELECT count(*) FROM " + c.table + " INDEXED BY " + c.index + " WHERE " + c.where).Scan(&viaIndex)
		q.reader.QueryRow("SELECT count(*) FROM " + c.table + " NOT INDEXED WHERE " + c.where).Scan(&total)
		if viaIndex != total || total == 0 {
			t.Errorf("%s holds %d rows, the table %d", c.index, viaIndex, total)
		}
	}
	if got := mustCount(t, q, Filter{Subject: []string{"report 600"}}); got != 1 {
		t.Errorf("messages with the subject of message 600: %d, want 1", got)
	}
}

package pgqueue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

var copyNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// sampleMessage is a pending message of one domain and recipient.
func sampleMessage() *queue.Message {
	return &queue.Message{ID: 1001, ReturnPath: "Ann@Example.COM", Created: copyNow, Size: 1234,
		Domains: []queue.Domain{{Name: "example.net", Status: queue.TempFail, Details: "421 later", RetryNum: 2, Due: copyNow.Add(time.Hour), Expires: copyNow.Add(72 * time.Hour),
			Recipients: []queue.Recipient{{Address: "Bob@example.net", Status: queue.TempFail, Code: 421, Enhanced: "4.7.0", Message: "later"}}}}}
}

// The binary COPY of the imports encodes each column as the type the
// schema gives it (binary COPY takes no other): a schema step that changes
// a column's type must change its encoding too, and this test says which.
func TestCopyColumnsHaveTheSchemasTypes(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for table, cols := range map[string][]copyCol{"messages": messageCols, "domains": domainCols, "recipients": recipientCols, "bodies": bodyCols, "message_due": dueCols} {
		for _, c := range cols {
			var typ string
			err := q.pool.QueryRow(ctx, `SELECT format_type(atttypid, NULL) FROM pg_attribute
				WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`, table, c.name).Scan(&typ)
			if err != nil {
				t.Errorf("%s.%s: %v", table, c.name, err)
				continue
			}
			if typ != c.typ {
				t.Errorf("%s.%s is %s in the schema, but the import's COPY encodes it as %s", table, c.name, typ, c.typ)
			}
		}
	}
}

// A number too big for its column is refused before anything is copied,
// with a sentence naming it.
func TestCopyRefusesNumbersOutOfRange(t *testing.T) {
	var b batch
	if err := b.encode(sampleMessage(), nil, 1); err != nil {
		t.Fatal(err)
	}
	n := len(b.msgs.buf)
	m := sampleMessage()
	m.Priority = 1 << 40
	err := b.encode(m, nil, 2)
	if err == nil || !strings.Contains(err.Error(), "priority 1099511627776 is out of range") {
		t.Fatalf("err = %v, want the priority out of range", err)
	}
	m = sampleMessage()
	m.Domains[0].Recipients[0].Code = -1 << 40
	if err := b.encode(m, nil, 3); err == nil || !strings.Contains(err.Error(), "reply code") {
		t.Fatalf("err = %v, want the reply code out of range", err)
	}
	if len(b.msgs.buf) != n || b.msgs.n != 1 || len(b.ids) != 1 || b.doms.n != 1 || b.rcpts.n != 1 {
		t.Fatalf("a refused message left rows behind: %d messages, %d domains, %d recipients", b.msgs.n, b.doms.n, b.rcpts.n)
	}
}

// What the binary COPY writes reads back as the values given: NULLs for
// what is not there, the lower-case forms, a held domain's hold, the
// client's address as an inet (IPv4, IPv6, and IPv4 mapped into IPv6 as
// IPv4), and the message's text with its Subject and Message-ID.
func TestCopyWritesTheMessagesValues(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, pgtest.URL(t), Options{Now: func() time.Time { return copyNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	a := sampleMessage()
	a.Client = queue.Client{IP: "::ffff:192.0.2.7", User: "Carol", Helo: "mx.example.com"}
	a.EnvID, a.Ret, a.Priority = "env-1", "HDRS", -3
	a.Domains[0].NotifyAt = copyNow.Add(4 * time.Hour)
	a.Domains[0].Hold = &queue.Hold{By: "tester", Reason: "look first", Since: copyNow, Until: copyNow.Add(2 * time.Hour), Rule: 7}
	a.Domains[0].Recipients[0].ORCPT = "rfc822;bob@example.net"
	a.Domains[0].Recipients[0].Notify = 6
	b := sampleMessage()
	b.ID, b.ReturnPath, b.Client = 1002, "", queue.Client{IP: "2001:db8::42"}
	b.Domains[0].Status, b.Domains[0].Recipients[0].Status = queue.Completed, queue.Completed
	c := sampleMessage()
	c.ID, c.Client = 1003, queue.Client{IP: "not an address"}
	texts := map[queue.ID][]byte{1001: []byte("Subject: Hello There\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")}
	msgs := []*queue.Message{a, b, c}
	res, err := write(q, ctx, false, func(tx *Tx) (queue.Result, error) {
		return tx.ImportMessages("test", func() (*queue.Message, []byte, error) {
			if len(msgs) == 0 {
				return nil, nil, nil
			}
			m := msgs[0]
			msgs = msgs[1:]
			return m, texts[m.ID], nil
		})
	})
	if err != nil || res.Count != 3 {
		t.Fatalf("import: %v, %v", res, err)
	}
	row := func(sql string) string {
		t.Helper()
		var s string
		if err := q.pool.QueryRow(ctx, sql).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return s
	}
	for sql, want := range map[string]string{
		"SELECT concat_ws('|', id, rp_lc, coalesce(rp, 'NULL'), rp_domain, created, size, env_id, priority, ret, client_ip, client_user, client_helo, subject_lc, msgid, host(client_inet), masklen(client_inet), family(client_inet)) FROM messages WHERE id = 1001": fmt.Sprintf("1001|ann@example.com|Ann@Example.COM|example.com|%d|1234|env-1|-3|HDRS|::ffff:192.0.2.7|Carol|mx.example.com|hello there|x@y|192.0.2.7|32|4", copyNow.Unix()),
		"SELECT concat_ws('|', msg_id, due) FROM message_due WHERE msg_id = 1001": fmt.Sprintf("1001|%d", copyNow.Add(time.Hour).Unix()),
		"SELECT count(*)::text FROM message_due WHERE msg_id = 1002":              "0",
		"SELECT concat_ws('|', id, rp_lc, coalesce(rp, 'NULL'), rp_domain, coalesce(env_id, 'NULL'), host(client_inet), masklen(client_inet), family(client_inet)) FROM messages WHERE id = 1002":                     "1002||NULL||NULL|2001:db8::42|128|6",
		"SELECT concat_ws('|', client_ip, coalesce(client_inet::text, 'NULL'), coalesce(subject_lc, 'NULL')) FROM messages WHERE id = 1003":                                                                           "not an address|NULL|NULL",
		"SELECT concat_ws('|', msg_id, idx, name, status, details, retry_num, due, notify, expires, hold_since, hold_until, hold_by, hold_reason, hold_rule, msg_created, msg_size) FROM domains WHERE msg_id = 1001": fmt.Sprintf("1001|0|example.net|2|421 later|2|%d|%d|%d|%d|%d|tester|look first|7|%d|1234", copyNow.Add(time.Hour).Unix(), copyNow.Add(4*time.Hour).Unix(), copyNow.Add(72*time.Hour).Unix(), copyNow.Unix(), copyNow.Add(2*time.Hour).Unix(), copyNow.Unix()),
		"SELECT concat_ws('|', coalesce(notify::text, 'NULL'), coalesce(hold_since::text, 'NULL'), coalesce(hold_by, 'NULL'), coalesce(hold_rule::text, 'NULL')) FROM domains WHERE msg_id = 1002":                    "NULL|NULL|NULL|NULL",
		"SELECT concat_ws('|', msg_id, idx, domain_idx, address_lc, address, status, code, enhanced, message, orcpt, notify) FROM recipients WHERE msg_id = 1001":                                                     "1001|0|0|bob@example.net|Bob@example.net|2|421|4.7.0|later|rfc822;bob@example.net|6",
		"SELECT encode(raw, 'escape') FROM bodies WHERE msg_id = 1001": string(texts[1001]),
		"SELECT count(*)::text FROM bodies":                            "1",
	} {
		if got := row(sql); got != want {
			t.Errorf("%s:\n got %q\nwant %q", sql, got, want)
		}
	}
}

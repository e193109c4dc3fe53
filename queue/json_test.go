package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestMarshalJSONShape(t *testing.T) {
	q, _ := openTest(t)
	q.LoadDemo(t.Context(), 0, 1)
	m := mustGet(t, q, 0x52B91F716)
	b, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":22205822742,"queue_id":"52B91F716","return_path":"","domains":[{"name":"example.org","status":"scheduled","recipients":[` +
		`{"address":"delay@example.org","status":{"temp_fail":"Code: 451, Enhanced code: 4.5.3, Message: Try again later."},"code":451,"enhanced_code":"4.5.3","message":"Try again later."},` +
		`{"address":"success@example.org","status":{"completed":"Code: 250, Enhanced code: 2.1.5, Message: OK"},"code":250,"enhanced_code":"2.1.5","message":"OK"}],` +
		`"retry_num":1,"next_retry":"2023-03-01T12:01:01Z","next_notify":"2023-03-01T12:17:41Z","expires":"2023-03-01T12:34:21Z"}],` +
		`"recipients":[` +
		`{"address":"delay@example.org","status":{"temp_fail":"Code: 451, Enhanced code: 4.5.3, Message: Try again later."},"code":451,"enhanced_code":"4.5.3","message":"Try again later.",` +
		`"queue":"default","retry_num":1,"next_retry":"2023-03-01T12:01:01Z","next_notify":"2023-03-01T12:17:41Z","expires":"2023-03-01T12:34:21Z"},` +
		`{"address":"success@example.org","status":{"completed":"Code: 250, Enhanced code: 2.1.5, Message: OK"},"code":250,"enhanced_code":"2.1.5","message":"OK",` +
		`"queue":"default","retry_num":1,"next_retry":"2023-03-01T12:01:01Z","next_notify":"2023-03-01T12:17:41Z","expires":"2023-03-01T12:34:21Z"}],` +
		`"created":"2023-03-01T11:44:22Z","size":1127,"env_id":"f"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	// encoding/json uses it for pointers, and the id stays a number above 2^53.
	big := Message{ID: 217700302698266620, Created: testNow, Domains: []Domain{{Name: "x.org", Due: testNow, Expires: testNow, Recipients: []Recipient{{Address: "a@x.org"}}}}}
	b, _ = json.Marshal(&big)
	if !bytes.HasPrefix(b, []byte(`{"id":217700302698266620,"queue_id":"3056D4599D33FFC",`)) || !bytes.Contains(b, []byte(`"next_notify":null`)) {
		t.Errorf("big id: %s", b)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	q, _ := openTest(t)
	q.LoadDemo(t.Context(), 1500, 5)
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{Domain: []string{"gmail.com"}, Recipient: []string{"*@gmail.com"}}})
	q.Enqueue(t.Context(), Envelope{Sender: "Mixed@Case.org", EnvID: "e1", Priority: -3, Recipients: []EnvelopeRecipient{{Address: "A@B.org", ORCPT: "rfc822;A@B.org"}}}, []byte("x"))
	var buf bytes.Buffer
	q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			b, err := m.MarshalJSON()
			buf.Write(b)
			buf.WriteByte('\n')
			return err
		})
	})
	q2, _ := openTest(t)
	res, err := q2.ImportJSON(t.Context(), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != mustCount(t, q, Filter{}) {
		t.Errorf("imported %d", res.Count)
	}
	if a, b := snapshot(t, q), snapshot(t, q2); a != b {
		t.Error("JSON round trip changed messages")
	}
	checkDue(t, q2)
	// New ids after an import come after the imported ones.
	m, _ := q2.Enqueue(t.Context(), Envelope{Recipients: []EnvelopeRecipient{{Address: "a@b.c"}}}, nil)
	if m.ID <= res.IDs[len(res.IDs)-1] {
		t.Errorf("new id %s not after the imported %s", m.ID, res.IDs[len(res.IDs)-1])
	}
}

func TestImportShapes(t *testing.T) {
	q, _ := openTest(t)
	lines := []string{
		// v0.7-v0.12, the docs' OpenAPI example, wrapped in the API envelope.
		`{"data":{"id":217700302698266620,"return_path":"pepe@pepe.com","domains":[{"name":"example.org","status":"scheduled","recipients":[{"address":"john@example.org","status":"scheduled"}],"retry_num":0,"next_retry":"2025-01-05T14:33:15Z","next_notify":"2025-01-06T14:33:15Z","expires":"2025-01-10T14:33:15Z"}],"created":"2025-01-05T14:33:15Z","size":1451,"blob_hash":"ykrZ_KghvdG2AdjH4AZajkSvZvcsxP_oI2HEZvw-tS0"}}`,
		``,
		// v0.13+: per-recipient schedules.
		`{"id":252198466772796198,"return_path":"sender@example.org","recipients":[` +
			`{"address":"rcpt@example.com","queue":"remote","status":{"temp_fail":"Error for mx.example.com: Connection failed: I/O error: Connection refused (os error 111)"},"retry_num":26,"next_retry":"2025-07-16T18:03:17Z","next_notify":"2025-07-20T00:01:17Z","expires":"2025-07-18T00:00:00Z","orcpt":"rfc822;rcpt@example.com"},` +
			`{"address":"two@example.com","queue":"remote","status":{"perm_fail":"Error for mx.example.com: Unexpected response for RCPT TO: Code: 550, Enhanced code: 5.1.1, Message: no such user"},"retry_num":3,"next_retry":"2025-07-16T17:00:00Z","expires":"2025-07-19T00:00:00Z"},` +
			`{"address":"ok@other.net","status":{"completed":"Code: 250, Enhanced code: 2.0.0, Message: OK"},"retry_num":1,"next_retry":"2025-07-15T00:05:00Z","expires":"2025-07-18T00:00:00Z"}],` +
			`"created":"2025-07-15T00:00:00Z","size":2645,"priority":5,"env_id":"abc","blob_hash":"yJXjTf1NnL6AZKuJYcbbidIJonvBkObhLmupB5-7qpE"}`,
		// Nulls, absent times, bare-string statuses, a string id, a completed domain as {"completed":""}.
		`{"id":"77","return_path":null,"domains":[{"name":"A.Example","status":{"completed":""},"recipients":[{"address":"x@a.example","status":"completed"}],"next_retry":null,"next_notify":null},` +
			`{"name":"b.example","status":"temp_fail","recipients":[{"address":"y@b.example","status":{"temp_fail":"Code: 421, Enhanced code: 4.7.0, Message: rate limited"}}]}],"created":"2025-01-01T00:00:00Z"}`,
		// An API list response.
		`{"data":{"items":[{"id":88,"return_path":"a@b.c","domains":[{"name":"d.e","recipients":[{"address":"f@d.e"}]}],"created":"2025-01-01T00:00:00Z","size":1},{"id":99,"return_path":"a@b.c","recipients":[{"address":"g@d.e","status":"scheduled"}],"size":2}],"total":2}}`,
	}
	res, err := q.ImportJSON(t.Context(), strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []ID{77, 88, 99, 217700302698266620, 252198466772796198}) {
		t.Errorf("ids %v", res.IDs)
	}
	ts := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

	m := mustGet(t, q, 217700302698266620)
	if m.ReturnPath != "pepe@pepe.com" || m.Size != 1451 || len(m.Domains) != 1 || !m.Domains[0].NotifyAt.Equal(ts("2025-01-06T14:33:15Z")) {
		t.Errorf("v0.12 message %+v", m)
	}

	m = mustGet(t, q, 252198466772796198)
	if m.Priority != 5 || m.EnvID != "abc" || len(m.Domains) != 2 {
		t.Fatalf("v0.13 message %+v", m)
	}
	d := m.Domains[0]
	if d.Name != "example.com" || d.Status != TempFail || d.RetryNum != 26 ||
		!d.Due.Equal(ts("2025-07-16T18:03:17Z")) || !d.NotifyAt.Equal(ts("2025-07-20T00:01:17Z")) || !d.Expires.Equal(ts("2025-07-19T00:00:00Z")) ||
		!strings.HasPrefix(d.Details, "Error for mx.example.com: Connection failed") {
		t.Errorf("v0.13 domain %+v", d)
	}
	r := d.Recipients
	if r[0].ORCPT != "rfc822;rcpt@example.com" || r[0].Code != 0 || !strings.HasPrefix(r[0].Message, "Error for mx.example.com") ||
		r[1].Status != PermFail || r[1].Code != 550 || r[1].Enhanced != "5.1.1" || r[1].Message != "no such user" {
		t.Errorf("v0.13 recipients %+v", r)
	}
	if d := m.Domains[1]; d.Name != "other.net" || d.Status != Completed || d.Recipients[0].Code != 250 {
		t.Errorf("v0.13 second domain %+v", d)
	}

	m = mustGet(t, q, 77)
	if m.ReturnPath != "" || m.Domains[0].Name != "a.example" || m.Domains[0].Status != Completed || m.Domains[0].Recipients[0].Status != Completed ||
		!m.Domains[0].Due.Equal(m.Created) || !m.Domains[0].Expires.Equal(m.Created.Add(DefaultSchedule.Expire)) || !m.Domains[0].NotifyAt.IsZero() {
		t.Errorf("message 77 %+v", m)
	}
	if r := m.Domains[1].Recipients[0]; m.Domains[1].Status != TempFail || r.Code != 421 || r.Enhanced != "4.7.0" || r.Message != "rate limited" {
		t.Errorf("message 77 second domain %+v", m.Domains[1])
	}
	if m := mustGet(t, q, 99); !m.Created.Equal(testNow) {
		t.Errorf("absent created: %v, want the import time", m.Created)
	}
	checkDue(t, q)
}

func TestImportErrors(t *testing.T) {
	q, _ := openTest(t)
	put(t, q, msg(5, "a@b.c", t0, "d@e.f"))
	good := `{"id":10,"return_path":"a@b.c","domains":[{"name":"e.f","recipients":[{"address":"d@e.f"}]}],"created":"2025-01-01T00:00:00Z"}`
	var long strings.Builder
	for i := 1; i <= 700; i++ {
		long.WriteString(strings.Replace(good, `"id":10`, `"id":`+strconv.Itoa(100+i), 1) + "\n")
	}
	cases := []struct {
		name, input, want string
	}{
		{"not json", good + "\n{oops\n", "line 2: not a JSON message object"},
		{"bad status", good + "\n\n" + strings.Replace(good, `"id":10`, `"id":11,"x":1`, 1) + "\n" + strings.Replace(good, `"recipients"`, `"status":{"lost":""},"recipients"`, 1), "line 4: domain e.f: unknown status"},
		{"two-key status", strings.Replace(good, `"recipients"`, `"status":{"temp_fail":"","perm_fail":""},"recipients"`, 1), "line 1: domain e.f: status: want a single-key object"},
		{"no id", `{"return_path":"a@b.c","domains":[{"name":"e.f","recipients":[{"address":"d@e.f"}]}]}`, "line 1: id: missing"},
		{"negative id", strings.Replace(good, `"id":10`, `"id":-1`, 1), "line 1: id: want a positive decimal integer"},
		{"id too large", strings.Replace(good, `"id":10`, `"id":18446744073709551615`, 1), "line 1: message id 18446744073709551615 is out of range"},
		{"no recipients", `{"id":12,"domains":[]}`, "line 1: the message has no recipients"},
		{"bad time", strings.Replace(good, `"2025-01-01T00:00:00Z"`, `"yesterday"`, 1), "line 1: created: want an RFC 3339 time"},
		{"already queued", good + "\n" + strings.Replace(good, `"id":10`, `"id":5`, 1), "line 2: message 5 is already in the queue"},
		{"twice in the input", good + "\n" + good, "line 2: message A appears twice (first on line 1)"},
		{"late line", long.String() + strings.Replace(good, `"id":10`, `"id":5`, 1), "line 701: message 5 is already in the queue"},
		// Nesting once crashed mqsh with Go's fatal stack overflow (3,000,000
		// levels), or imported at 1 GB (2,000,000).
		{"deep unknown field", good + "\n" + deepJSON(3000000), "line 2: JSON nested deeper than 100 levels (at byte 192)"},
		{"deep status", strings.Replace(good, `"recipients"`, `"status":`+strings.Repeat(`{"a":`, 101)+`1`+strings.Repeat(`}`, 101)+`,"recipients"`, 1), "line 1: JSON nested deeper than 100 levels"},
		{"deep items", `{"data":{"items":[` + deepJSON(200) + `]}}`, "line 1: JSON nested deeper than 100 levels"},
		{"long line", good + "\n" + strings.Replace(good, `"a@b.c"`, `"`+strings.Repeat("a", maxLineBytes)+`@b.c"`, 1) + "\n" + good, "line 2: longer than 16 MiB"},
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
}

// deepJSON is a message line with n levels of arrays in an unknown field.
func deepJSON(n int) string {
	return `{"id":99,"return_path":"","domains":[{"name":"e.f","recipients":[{"address":"d@e.f"}]}],"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// A message holding a time the engine now refuses (stored before it checked
// times) is still written out, so that it can be listed and repaired.
func TestMarshalJSONOutOfRangeTime(t *testing.T) {
	far := time.Date(292277026304, 1, 1, 0, 0, 0, 0, time.UTC)
	m := Message{ID: 7, Created: testNow, Domains: []Domain{{Name: "x.org", Due: far, Expires: far, Recipients: []Recipient{{Address: "a@x.org"}}}}}
	b, err := m.MarshalJSON()
	if err != nil || !bytes.Contains(b, []byte(`"next_retry":"292277026304-01-01T00:00:00Z"`)) {
		t.Errorf("%s, %v", b, err)
	}
}

// A JSON message names its id as the command line does (queue_id, hex)
// beside Stalwart's decimal id; IDOfJSON reads either.
func TestIDOfJSON(t *testing.T) {
	for _, c := range []struct {
		line string
		want ID
		err  string
	}{
		{`{"id":22205822742,"queue_id":"52B91F716","return_path":""}`, 0x52B91F716, ""},
		{`{"id":22205822742}`, 0x52B91F716, ""},
		{`{"id":"22205822742"}`, 0x52B91F716, ""},
		{`{"queue_id":"52b91f716"}`, 0x52B91F716, ""},
		{`{"data":{"id":217700302698266620}}`, 217700302698266620, ""},
		{`{"id":1,"queue_id":"2"}`, 0, "queue_id 2 does not match id 1"},
		{`{"return_path":""}`, 0, "no id"},
		{`{"id":-4}`, 0, "id: want a positive decimal integer"},
		{`{"queue_id":"xyz"}`, 0, "invalid id"},
		{`{oops`, 0, "not a JSON object"},
	} {
		id, err := IDOfJSON([]byte(c.line))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("IDOfJSON(%s) = %v, %v; want error %q", c.line, id, err, c.err)
			}
			continue
		}
		if err != nil || id != c.want {
			t.Errorf("IDOfJSON(%s) = %v, %v; want %v", c.line, id, err, c.want)
		}
	}
}

func TestImportEML(t *testing.T) {
	q, _ := openTest(t)
	raw := "Return-Path: <Bounce@List.example>\r\nFrom: Alice <alice@example.org>\r\nTo: Bob <bob@x.org>, carol@y.org\r\nCc: dave@x.org\r\nBcc: erin@z.org\r\nSubject: hi\r\n\r\nHello\r\n"
	m, err := q.ImportEML(t.Context(), []byte(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, q, m.ID)
	var rs []string
	for _, r := range got.Recipients() {
		rs = append(rs, r.Address)
	}
	stored := strings.Replace(raw, "Bcc: erin@z.org\r\n", "", 1) // see TestBccStrippedOnQueueing
	if got.ReturnPath != "Bounce@List.example" || got.Size != int64(len(stored)) || strings.Join(rs, " ") != "bob@x.org dave@x.org carol@y.org erin@z.org" {
		t.Errorf("from headers: %+v %v", got, rs)
	}
	b, _ := q.Raw(t.Context(), m.ID)
	if string(b) != stored {
		t.Errorf("stored text %q, want %q", b, stored)
	}

	// Envelope headers win over To/Cc; a <> Return-Path is a bounce; From without Return-Path.
	m, err = q.ImportEML(t.Context(), []byte("Return-Path: <>\r\nX-Original-To: real@dest.org\r\nTo: list@lists.org\r\n\r\nx"), nil)
	if err != nil || m.ReturnPath != "" || m.Recipients()[0].Address != "real@dest.org" || len(m.Recipients()) != 1 {
		t.Errorf("envelope headers: %+v %v", m, err)
	}
	m, err = q.ImportEML(t.Context(), []byte("From: Alice <alice@example.org>\r\nDelivered-To: bob@x.org\r\n\r\nx"), nil)
	if err != nil || m.ReturnPath != "alice@example.org" || m.Recipients()[0].Address != "bob@x.org" {
		t.Errorf("from: %+v %v", m, err)
	}

	// An explicit envelope wins.
	env := &Envelope{Sender: "x@y.z", Recipients: []EnvelopeRecipient{{Address: "only@here.org"}}}
	m, err = q.ImportEML(t.Context(), []byte(raw), env)
	if err != nil || m.ReturnPath != "x@y.z" || len(m.Recipients()) != 1 {
		t.Errorf("explicit envelope: %+v %v", m, err)
	}

	n := mustCount(t, q, Filter{})
	for _, bad := range []string{"Subject: no one\r\n\r\nx", "From: a@b.c\r\n\r\nx", "garbage without headers"} {
		if _, err := q.ImportEML(t.Context(), []byte(bad), nil); err == nil || !strings.Contains(err.Error(), "explicitly") {
			t.Errorf("ImportEML(%q): %v", bad, err)
		}
	}
	if mustCount(t, q, Filter{}) != n {
		t.Error("failed imports queued messages")
	}
	a, _ := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if a[0].Verb != "import" || !strings.HasPrefix(a[0].Filter, "format=eml sender=x@y.z") {
		t.Errorf("audit %+v", a[0])
	}
}

// FuzzDecodeMessage holds the import's JSON reader to encoding/json's results.
func FuzzDecodeMessage(f *testing.F) {
	q, _ := openTest(f)
	q.LoadDemo(context.Background(), 30, 1)
	q.View(context.Background(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			b, _ := m.MarshalJSON()
			f.Add(b)
			return nil
		})
	})
	for _, s := range []string{`{"data":{"items":[{"id":1}]}}`, `null`, `{"ID":"5","Return_Path":null,"size":1e3}`, `{"id":1,"domains":null,"recipients":[{"address":"a\u00e9\ud83d\ude00\ud800x@b","status":{"temp_fail":null}}]}`,
		`{"id":01}`, `{"id":1,}`, `{"id":1} x`, `{"a":[1,{"b":true,"c":false}],"id":-0.5e+3}`, "{\"address\":\"\xff\"}", `{"retry_num":null,"size":null,"priority":null}`,
		`{"\u0069d":7,"d\u006fmains":[{"n\u0061me":"x","STATUS":{"Temp_Fail":"y"}}],"Created":"2025-01-01T00:00:00Z","ids":1}`,
		// From the fault campaign: nesting that crashed the importer, a NUL
		// in an address, nonsense times, a status nested deep.
		deepJSON(3000000), deepJSON(maxJSONDepth), deepJSON(maxJSONDepth - 7), `{"id":1,"x":"[[[[\"]]]"}`, `{"id":1,"x":"\\"}`,
		`{"id":1,"return_path":"*\u0000@nobody.invalid","domains":[{"name":"a.b","recipients":[{"address":"c\u0000@a.b"}]}]}`,
		`{"id":1,"created":"0001-01-01T00:00:00Z","domains":[{"name":"a.b","next_retry":"9999-12-31T23:59:60Z","recipients":[{"address":"c@a.b"}]}]}`,
		`{"id":1,"domains":[{"status":` + strings.Repeat(`{"a":`, 120) + `1` + strings.Repeat(`}`, 120) + `}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ferr := decodeMessage(b)
		if errors.Is(ferr, errTooDeep) {
			// encoding/json goes on to 10,000 levels; the importer stops
			// at maxJSONDepth, and only there.
			if d, ok := tokenDepth(b); ok && d <= maxJSONDepth {
				t.Fatalf("%q: refused as too deep, but nests %d levels", b, d)
			}
			return
		}
		var slow jsonInMessage
		serr := json.Unmarshal(b, &slow)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", b, ferr, serr)
		}
		if ferr != nil {
			return
		}
		// recipients[] is kept only for a message without domains[] (a
		// line of both shapes is read from its domains[]).
		if len(slow.Domains) > 0 {
			if fast.Recipients != nil {
				t.Fatalf("%q: recipients[] kept beside domains[]", b)
			}
			slow.Recipients = nil
		}
		if !reflect.DeepEqual(normalizeIn(*fast), normalizeIn(slow)) {
			t.Fatalf("%q:\nfast %+v\nslow %+v", b, *fast, slow)
		}
		// recipients[] is decoded when it is read (a message without
		// domains[]): by the same decoder, held to encoding/json's results.
		fr, ferr := fast.Recipients.decode()
		var sr []jsonInRecipient
		serr = json.Unmarshal(slow.Recipients, &sr)
		if len(slow.Recipients) == 0 {
			serr = nil
		}
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%q: recipients: fast error %v, encoding/json error %v", b, ferr, serr)
		}
		if ferr == nil && !reflect.DeepEqual(normalizeRecipients(fr), normalizeRecipients(sr)) {
			t.Fatalf("%q: recipients:\nfast %+v\nslow %+v", b, fr, sr)
		}
	})
}

// tokenDepth is how deep valid JSON nests, read by encoding/json's tokenizer
// (ok is false for invalid JSON).
func tokenDepth(b []byte) (deepest int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest, depth == 0
		}
		if err != nil {
			return 0, false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// normalizeIn makes raw values comparable (encoding/json keeps nil for absent,
// the bytes of null otherwise).
func normalizeIn(m jsonInMessage) jsonInMessage {
	fix := func(r json.RawMessage) json.RawMessage {
		if len(r) == 0 {
			return nil
		}
		return r
	}
	m.ID, m.Data, m.Items = fix(m.ID), fix(m.Data), fix(m.Items)
	if len(m.Domains) == 0 {
		m.Domains = nil
	}
	if len(m.Recipients) == 0 {
		m.Recipients = nil
	}
	for i := range m.Domains {
		m.Domains[i].Status = fix(m.Domains[i].Status)
		if len(m.Domains[i].Recipients) == 0 {
			m.Domains[i].Recipients = nil
		}
		for j := range m.Domains[i].Recipients {
			m.Domains[i].Recipients[j].Status = fix(m.Domains[i].Recipients[j].Status)
		}
	}
	return m
}

// normalizeRecipients is normalizeIn for a message's recipients[].
func normalizeRecipients(rs []jsonInRecipient) []jsonInRecipient {
	if len(rs) == 0 {
		return nil
	}
	for j := range rs {
		if len(rs[j].Status) == 0 {
			rs[j].Status = nil
		}
	}
	return rs
}

// TestFailedImportInsideUpdate: a script that carries on after a failed bulk
// import keeps a whole queue, indexes included.
func TestFailedImportInsideUpdate(t *testing.T) {
	q, _ := openTest(t)
	q.LoadDemo(t.Context(), 0, 1)
	var lines bytes.Buffer
	generateDemo(bulkAfter+1000, 3, testNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		b, _ := m.MarshalJSON()
		lines.Write(b)
		lines.WriteByte('\n')
		return nil
	})
	lines.WriteString("{broken\n")
	indexes := func() int {
		var n int
		q.reader.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL").Scan(&n)
		return n
	}
	before := indexes()
	err := q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.ImportJSON(bytes.NewReader(lines.Bytes())); err == nil || !strings.Contains(err.Error(), "line "+strconv.Itoa(bulkAfter+1001)) {
			t.Errorf("import: %v", err)
		}
		if n, _ := tx.Count(Filter{}); n != 6 {
			t.Errorf("after the failed import: %d messages", n)
		}
		_, err := tx.List(Filter{Sender: []string{"bill1@example.net"}}, Page{Limit: 5}) // needs its index
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if indexes() != before || before < 6 {
		t.Errorf("indexes: %d before, %d after", before, indexes())
	}
	// The same import without the bad line goes through the bulk path and
	// rebuilds the indexes.
	good := bytes.TrimSuffix(lines.Bytes(), []byte("{broken\n"))
	res, err := q.ImportJSON(t.Context(), bytes.NewReader(good))
	if err != nil || res.Count != bulkAfter+1000 || indexes() != before {
		t.Fatalf("bulk import: %d, %v, %d indexes", res.Count, err, indexes())
	}
	if n := mustCount(t, q, Filter{Domain: []string{"gmail.com"}}); n < bulkAfter/5 {
		t.Errorf("gmail.com: %d", n)
	}
	checkDue(t, q)
}

// TestParseUTCSeconds: the fast path for times gives exactly what time.Parse
// gives, and leaves everything else (bad dates included) to it.
func TestParseUTCSeconds(t *testing.T) {
	for _, s := range []string{
		"2025-01-01T00:00:00Z", "2026-11-29T23:59:59Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
		"2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2025-04-31T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z",
		"2025-01-00T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T23:60:00Z", "2025-01-01T23:59:60Z", "2025-01-01t00:00:00Z",
		"2025-01-01T00:00:00z", "2025-01-01T00:00:00+02:00", "2025-01-01T00:00:00.5Z", "2025-1-01T00:00:00Z", "+025-01-01T00:00:00Z",
		"2025-01-01T0a:00:00Z", "2025-01-01 00:00:00Z",
	} {
		want, werr := time.Parse(time.RFC3339Nano, s)
		got, err := parseJSONTime("t", s)
		if (err == nil) != (werr == nil) || (err == nil && !got.Equal(want)) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("%s: got %v, %v; time.Parse gives %v, %v", s, got, err, want, werr)
		}
	}
}

// TestImportKeepsEveryValue: the rows an import writes (packed as JSONB
// arrays for SQLite) read back as the message given, including values that
// need care in that encoding: long texts, NUL bytes, invalid UTF-8, upper
// case addresses, negative and large numbers, bounces and empty fields.
func TestImportKeepsEveryValue(t *testing.T) {
	q, _ := openTest(t)
	long := strings.Repeat("x", 70000) // longer than any short form
	m := Message{ID: ID(math.MaxInt64), ReturnPath: "", Created: t0, Size: math.MaxInt64, EnvID: "env\x00id", Priority: -3,
		Domains: []Domain{
			{Name: "b.example", Status: TempFail, Details: long, RetryNum: 7, Due: t0.Add(time.Hour), NotifyAt: t0.Add(24 * time.Hour), Expires: t0.Add(120 * time.Hour),
				Recipients: []Recipient{
					{Address: "Mixed.Case@B.example", Status: TempFail, Code: 451, Enhanced: "4.5.3", Message: "Try again \xff later.", ORCPT: "rfc822;Mixed.Case@B.example"},
					{Address: "plain@b.example", Status: Completed, Code: 250, Message: "ok \"quoted\" \\ back\nslash\ttab\x1f é 😀"},
				}},
			{Name: "c.example", Status: Scheduled, Due: t0, Expires: t0.Add(time.Hour), Recipients: []Recipient{{Address: "x@c.example"}}},
		}}
	err := q.Update(context.Background(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		want := m
		if err := q.normalize(&want); err != nil {
			return err
		}
		if err := ins.add(&want, []byte("raw\x00body"), 0); err != nil {
			return err
		}
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, q, m.ID)
	if !reflect.DeepEqual(*got, m) {
		t.Errorf("read back\n%+v\nwant\n%+v", *got, m)
	}
	var rp, address, orcpt sql.NullString
	var typ string
	q.reader.QueryRow("SELECT rp, typeof(priority) FROM messages").Scan(&rp, &typ)
	if rp.Valid || typ != "integer" {
		t.Errorf("messages.rp %v (want NULL), priority stored as %s (want integer)", rp, typ)
	}
	q.reader.QueryRow("SELECT address, orcpt FROM recipients WHERE address_lc = 'mixed.case@b.example'").Scan(&address, &orcpt)
	if address.String != "Mixed.Case@B.example" || orcpt.String != "rfc822;Mixed.Case@B.example" {
		t.Errorf("recipient address %v, orcpt %v", address, orcpt)
	}
	var raw []byte
	q.reader.QueryRow("SELECT raw FROM bodies").Scan(&raw)
	if string(raw) != "raw\x00body" {
		t.Errorf("body %q", raw)
	}
}

// TestBulkImport: an import big enough to drop and rebuild the indexes keeps
// every message, rebuilds every index and gives the connection back with its
// own sorter settings.
func TestBulkImport(t *testing.T) {
	q, _ := openTest(t)
	var buf bytes.Buffer
	var want []Message
	err := generateDemo(bulkAfter+300, 7, t0, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		b, err := m.MarshalJSON()
		buf.Write(b)
		buf.WriteByte('\n')
		if i%1000 == 0 {
			want = append(want, *m)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	indexes := func() string {
		var s string
		q.reader.QueryRow("SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name)").Scan(&s)
		return s
	}
	before := indexes()
	res, err := q.ImportJSON(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != bulkAfter+300 || mustCount(t, q, Filter{All: true}) != bulkAfter+300 {
		t.Errorf("imported %d, counted %d, want %d", res.Count, mustCount(t, q, Filter{All: true}), bulkAfter+300)
	}
	if got := indexes(); got != before || !strings.Contains(got, "recipients_address") {
		t.Errorf("indexes after the import: %s, want %s", got, before)
	}
	for _, m := range want {
		got := mustGet(t, q, m.ID)
		if err := q.normalize(&m); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, m) {
			t.Errorf("message %s read back\n%+v\nwant\n%+v", m.ID, *got, m)
		}
	}
	var threads, cache int
	q.writer.QueryRow("PRAGMA threads").Scan(&threads)
	q.writer.QueryRow("PRAGMA cache_size").Scan(&cache)
	if threads != 0 || cache != -262144 {
		t.Errorf("after the import the writer has threads = %d, cache_size = %d; want 0 and -262144", threads, cache)
	}
	var n int
	q.reader.QueryRow("SELECT count(*) FROM recipients INDEXED BY recipients_address WHERE address_lc > ''").Scan(&n)
	var total int
	q.reader.QueryRow("SELECT count(*) FROM recipients").Scan(&total)
	if n != total || n == 0 {
		t.Errorf("recipients_address holds %d rows, the table %d", n, total)
	}
}

// FuzzDecodeLine feeds the importer's line reader (decoding, conversion,
// checks and normal form) anything: it never panics, and what it accepts
// holds to the engine's limits: printable addresses of RFC 5321 lengths, at
// most maxRecipients recipients, times from 1970 to 9999.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"return_path":"a@b.example","domains":[{"name":"c.example","recipients":[{"address":"d@c.example"}]}]}`,
		`{"data":{"items":[{"id":2,"recipients":[{"address":"x@y.example","status":{"temp_fail":"Code: 451, Enhanced code: 4.5.3, Message: later"}}]}]}}`,
		deepJSON(3000000), deepJSON(maxJSONDepth),
		`{"id":1,"return_path":"*\u0000@nobody.invalid","domains":[{"name":"a.b","recipients":[{"address":"c@a.b"}]}]}`,
		`{"id":1,"domains":[{"name":"a.b","next_retry":"0500-01-01T00:00:00Z","recipients":[{"address":"c@a.b"}]}]}`,
		`{"id":1,"created":"9999-12-31T23:59:59Z","domains":[{"name":"a.b","recipients":[{"address":"` + strings.Repeat("l", 65) + `@a.b"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	q, _ := openTest(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := q.decodeLine(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			addrs := []string{m.ReturnPath}
			n := 0
			for _, d := range m.Domains {
				if len(d.Name) > maxDomainBytes || strings.IndexFunc(d.Name, unicode.IsControl) >= 0 {
					t.Fatalf("%q: accepted domain %q", b, d.Name)
				}
				for _, r := range d.Recipients {
					addrs = append(addrs, r.Address)
					n++
				}
			}
			for _, a := range addrs {
				if len(a) > maxAddressBytes || strings.IndexFunc(a, unicode.IsControl) >= 0 {
					t.Fatalf("%q: accepted address %q", b, a)
				}
			}
			if n > maxRecipients {
				t.Fatalf("%q: accepted %d recipients", b, n)
			}
			if err := checkMessageTimes(m); err != nil {
				t.Fatalf("%q: accepted %v", b, err)
			}
		}
	})
}

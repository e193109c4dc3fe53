package queue

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// The reference for AppendJSON: the message shape as plain structs, encoded
// by encoding/json (HTML left unescaped). AppendJSON writes the same bytes
// without building them.

type refMessage struct {
	ID         uint64      `json:"id"`
	QueueID    string      `json:"queue_id"`
	ReturnPath string      `json:"return_path"`
	Domains    []refDomain `json:"domains"`
	Recipients []refRcpt13 `json:"recipients"`
	Created    string      `json:"created"`
	Size       int64       `json:"size"`
	Priority   int         `json:"priority,omitempty"`
	EnvID      string      `json:"env_id,omitempty"`
	Ret        string      `json:"ret,omitempty"`
	Client     *Client     `json:"client,omitempty"`
	Held       bool        `json:"held,omitempty"`
}

type refDomain struct {
	Name       string         `json:"name"`
	Status     any            `json:"status"`
	Recipients []refRecipient `json:"recipients"`
	RetryNum   int            `json:"retry_num"`
	NextRetry  *string        `json:"next_retry"`
	NextNotify *string        `json:"next_notify"`
	Expires    string         `json:"expires"`
	Held       *refHold       `json:"held,omitempty"`
}

type refHold struct {
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	Since  string `json:"since"`
	Until  string `json:"until,omitempty"`
	Rule   int64  `json:"rule,omitempty"`
}

type refRecipient struct {
	Address  string `json:"address"`
	Status   any    `json:"status"`
	ORCPT    string `json:"orcpt,omitempty"`
	Notify   string `json:"notify,omitempty"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced_code,omitempty"`
	Message  string `json:"message,omitempty"`
}

type refRcpt13 struct {
	refRecipient
	Queue      string `json:"queue"`
	RetryNum   int    `json:"retry_num"`
	NextRetry  string `json:"next_retry"`
	NextNotify string `json:"next_notify,omitempty"`
	Expires    string `json:"expires"`
}

func refTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func refStatus(s Status, details string) any {
	switch s {
	case Completed:
		return map[string]string{"completed": details}
	case TempFail:
		return map[string]string{"temp_fail": details}
	case PermFail:
		return map[string]string{"perm_fail": details}
	}
	return "scheduled"
}

func refJSON(t *testing.T, m *Message) []byte {
	t.Helper()
	out := refMessage{ID: uint64(m.ID), QueueID: m.ID.String(), ReturnPath: m.ReturnPath, Created: refTime(m.Created), Size: m.Size,
		Priority: m.Priority, EnvID: m.EnvID, Ret: m.Ret, Held: m.Held, Domains: []refDomain{}, Recipients: []refRcpt13{}}
	if !m.Client.IsZero() {
		c := m.Client
		out.Client = &c
	}
	for _, d := range m.Domains {
		due := refTime(d.Due)
		od := refDomain{Name: d.Name, Status: refStatus(d.Status, d.Details), RetryNum: d.RetryNum, Expires: refTime(d.Expires), Recipients: []refRecipient{}}
		if !d.Due.IsZero() {
			od.NextRetry = &due
		}
		if !d.NotifyAt.IsZero() {
			s := refTime(d.NotifyAt)
			od.NextNotify = &s
		}
		if h := d.Hold; h != nil {
			od.Held = &refHold{By: h.By, Reason: h.Reason, Since: refTime(h.Since), Rule: h.Rule}
			if !h.Until.IsZero() {
				od.Held.Until = refTime(h.Until)
			}
		}
		for _, r := range d.Recipients {
			enh := r.Enhanced
			if enh == "" {
				enh = "0.0.0"
			}
			reply := "Code: " + strconv.Itoa(r.Code) + ", Enhanced code: " + enh + ", Message: " + r.Message
			or := refRecipient{Address: r.Address, Status: refStatus(r.Status, reply), ORCPT: r.ORCPT, Notify: r.Notify.String(), Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}
			od.Recipients = append(od.Recipients, or)
			r13 := refRcpt13{refRecipient: or, Queue: "default", RetryNum: d.RetryNum, NextRetry: due, Expires: od.Expires}
			if od.NextNotify != nil {
				r13.NextNotify = *od.NextNotify
			}
			out.Recipients = append(out.Recipients, r13)
		}
		out.Domains = append(out.Domains, od)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// randString is a string of the bytes that matter to a JSON encoder: plain
// text, quotes and backslashes, control characters, HTML characters, valid
// and invalid UTF-8, U+2028 and U+2029.
func randString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "9", "@", ".", " ", "\"", "\\", "/", "<", ">", "&", "\n", "\r", "\t", "\b", "\f",
		"\x00", "\x01", "\x1f", "\x7f", "é", "日本", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"}
	if r.IntN(4) == 0 {
		return ""
	}
	var b []byte
	for n := r.IntN(12); n >= 0; n-- {
		if r.IntN(3) == 0 {
			b = append(b, byte(r.IntN(256)))
		} else {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
	}
	return string(b)
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(8) {
	case 0:
		return time.Time{}
	case 1: // past 9999, as an old queue may hold
		return time.Unix(253402300800+r.Int64N(1e10), 0).UTC()
	case 2: // before year 0
		return time.Date(-1-r.IntN(3000), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
	case 3: // another zone, and a fraction of a second
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("X", 3600*(r.IntN(25)-12)))
	}
	return time.Unix(r.Int64N(253402300800), 0).UTC()
}

func randMessage(r *rand.Rand) Message {
	m := Message{ID: ID(r.Uint64()), ReturnPath: randString(r), Created: randTime(r), Size: r.Int64() - r.Int64(), EnvID: randString(r), Ret: randString(r), Held: r.IntN(2) == 0}
	if r.IntN(3) == 0 {
		m.ID = ID(r.IntN(20))
	}
	if r.IntN(2) == 0 {
		m.Priority = r.IntN(200) - 100
	}
	if r.IntN(2) == 0 {
		m.Client = Client{IP: randString(r), User: randString(r), Helo: randString(r)}
	}
	for nd := r.IntN(4); nd > 0; nd-- {
		d := Domain{Name: randString(r), Status: Status(r.IntN(6)), Details: randString(r), RetryNum: r.IntN(100) - 5, Due: randTime(r), NotifyAt: randTime(r), Expires: randTime(r)}
		if r.IntN(3) == 0 {
			d.Hold = &Hold{By: randString(r), Reason: randString(r), Since: randTime(r), Until: randTime(r), Rule: r.Int64N(5)}
		}
		for nr := r.IntN(4); nr > 0; nr-- {
			rc := Recipient{Address: randString(r), Status: Status(r.IntN(6)), Enhanced: randString(r), Message: randString(r), ORCPT: randString(r), Notify: Notify(r.IntN(32))}
			if r.IntN(2) == 0 {
				rc.Code = r.IntN(1200) - 100
			}
			d.Recipients = append(d.Recipients, rc)
		}
		m.Domains = append(m.Domains, d)
	}
	return m
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	buf := []byte("prefix")
	for i := 0; i < n; i++ {
		m := randMessage(r)
		want := refJSON(t, &m)
		got, err := m.AppendJSON(buf[:6])
		if err != nil {
			t.Fatal(err)
		}
		if string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, want)
		}
		buf = got
		if !json.Valid(got[6:]) {
			t.Fatalf("message %d: invalid JSON %s", i, got[6:])
		}
	}
	// The generated queue, as listings show it.
	err := generateDemo(2000, 7, benchNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		got, _ := m.MarshalJSON()
		if want := refJSON(t, m); !bytes.Equal(got, want) {
			t.Fatalf("demo message %d:\n got %s\nwant %s", i, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzAppendJSON holds the encoder to encoding/json on the strings a message
// may carry.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{"", "a@b.example", "\"\\\n\x00<&>", "\xff\xc3", "\u2028\u2029é"} {
		f.Add(s, s, 250, int64(0))
	}
	f.Fuzz(func(t *testing.T, s, u string, code int, secs int64) {
		tm := time.Unix(secs%(400*253402300800), 0).UTC()
		m := Message{ID: ID(secs), ReturnPath: s, EnvID: u, Created: tm, Client: Client{Helo: u},
			Domains: []Domain{{Name: u, Status: PermFail, Details: s, Due: tm, Expires: tm,
				Recipients: []Recipient{{Address: s, Status: TempFail, Code: code, Enhanced: u, Message: s, ORCPT: u}}}}}
		got, _ := m.MarshalJSON()
		if want := refJSON(t, &m); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// appendJSONTime writes every second from year 0 to 9999 as time.Format
// does: the edges of the range, of days, months and leap years, and random
// seconds between, in several zones; and the times outside the range too.
func TestAppendJSONTime(t *testing.T) {
	var secs []int64
	for _, e := range []int64{minJSONUnix, maxJSONUnix, 0, -1, 951782400, 951868800, 4107542400, -62162121600, -62135596800} {
		for d := int64(-2); d <= 2; d++ {
			secs = append(secs, e+d, e+d*86400, e+d*86400*366)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		secs = append(secs, minJSONUnix-86400+r.Int64N(maxJSONUnix-minJSONUnix+2*86400))
	}
	zones := []*time.Location{time.UTC, time.FixedZone("E", 13*3600), time.FixedZone("W", -11*3600-1800)}
	for i, s := range secs {
		tm := time.Unix(s, int64(i%3)*300_000_000).In(zones[i%len(zones)])
		want := `"` + refTime(tm) + `"`
		if got := string(appendJSONTime(nil, tm)); got != want {
			t.Fatalf("%d (%v): got %s, want %s", s, tm, got, want)
		}
	}
}

// plain8 says eight bytes are plain exactly when jsonPlain says each is:
// every byte value at every place, among plain bytes of every value.
func TestPlain8(t *testing.T) {
	for fill := 0; fill < 256; fill++ {
		if !jsonPlain[fill] {
			continue
		}
		for c := 0; c < 256; c++ {
			for at := 0; at < 8; at++ {
				var x uint64
				for j := 0; j < 8; j++ {
					v := uint64(fill)
					if j == at {
						v = uint64(c)
					}
					x |= v << (8 * j)
				}
				if got := plain8(x); got != jsonPlain[c] {
					t.Fatalf("byte %#x at %d among %#x: plain8 %t, want %t", c, at, fill, got, jsonPlain[c])
				}
			}
		}
	}
}

// A message with more domains and recipients than AppendJSON keeps the
// places of (it copies the first ones' bytes into recipients[], and writes
// the others again) comes out as encoding/json writes it.
func TestAppendJSONManyDomains(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 300; i++ {
		m := randMessage(r)
		for len(m.Domains) < 6 {
			more := randMessage(r)
			m.Domains = append(m.Domains, more.Domains...)
		}
		for j := range m.Domains {
			for len(m.Domains[j].Recipients) < 6 {
				m.Domains[j].Recipients = append(m.Domains[j].Recipients, Recipient{Address: randString(r), Status: Status(r.IntN(6)), Code: r.IntN(600), Message: randString(r), Notify: Notify(r.IntN(32))})
			}
		}
		got, _ := m.MarshalJSON()
		if want := refJSON(t, &m); !bytes.Equal(got, want) {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

package queue

import (
	"strings"
	"testing"
)

// Headers in Latin-1 (8-bit, not UTF-8) are read as Latin-1; a header that
// cannot be read is named with what is wrong in it, never "no From header".
func TestEnvelopeFromOddHeaders(t *testing.T) {
	for _, c := range []struct {
		name, raw     string
		sender, rcpts string
		err           string
	}{
		{"latin-1 from", "From: Andr\xe9 M\xfcller <andre@example.fr>\r\nTo: Zo\xeb <zoe@example.de>\r\n\r\nx", "andre@example.fr", "zoe@example.de", ""},
		{"latin-1 cc", "From: a@b.example\r\nTo: x@y.example\r\nCc: Fran\xe7ois <f@z.example>, g@z.example\r\n\r\nx", "a@b.example", "x@y.example f@z.example g@z.example", ""},
		{"nul in from", "From: Bill\x00 <bill@example.net>\r\nTo: a@b.example\r\n\r\nx", "", "", `From header "Bill\x00 <bill@example.net>" holds a control character (U+0000 at byte 4)`},
		{"nul in address", "From: bill\x00@example.net\r\nTo: a@b.example\r\n\r\nx", "", "", `From header "bill\x00@example.net" holds a control character (U+0000 at byte 4)`},
		{"unreadable from", "From: <<<\r\nTo: a@b.example\r\n\r\nx", "", "", `From header "<<<" is not an address list`},
		{"unreadable to", "From: a@b.example\r\nTo: ,,;;\r\n\r\nx", "", "", `To header ",,;;" is not an address list`},
		{"no from at all", "To: a@b.example\r\n\r\nx", "", "", "no Return-Path, Sender or From header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, err := EnvelopeFromHeaders([]byte(c.raw))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rs []string
			for _, r := range env.Recipients {
				rs = append(rs, r.Address)
			}
			if env.Sender != c.sender || strings.Join(rs, " ") != c.rcpts {
				t.Errorf("sender %q recipients %q, want %q %q", env.Sender, rs, c.sender, c.rcpts)
			}
		})
	}
}

// Bcc (and Resent-Bcc) headers are removed from the stored text of a new
// message, as every MTA does, or delivery would show them to every
// recipient; the envelope still takes its recipients from them.
func TestBccStrippedOnQueueing(t *testing.T) {
	q, _ := openTest(t)
	raw := "From: a@b.example\r\nTo: c@d.example\r\nBCC: hidden@e.example,\r\n\tother@f.example\r\nSubject: hi\r\nResent-Bcc: r@g.example\r\nbcc-note: kept\r\n\r\nBcc: in the body stays\r\n"
	want := "From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\nbcc-note: kept\r\n\r\nBcc: in the body stays\r\n"
	m, err := q.ImportEML(t.Context(), []byte(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, r := range m.Recipients() {
		rs = append(rs, r.Address)
	}
	if strings.Join(rs, " ") != "c@d.example hidden@e.example other@f.example" {
		t.Errorf("recipients %v: the Bcc addresses must still be recipients", rs)
	}
	m2, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "hidden@e.example"}}}, []byte(strings.ReplaceAll(raw, "\r\n", "\n")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   ID
		want string
	}{{m.ID, want}, {m2.ID, strings.ReplaceAll(want, "\r\n", "\n")}} {
		got, err := q.Raw(t.Context(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("stored text:\n%q\nwant\n%q", got, c.want)
		}
		if g := mustGet(t, q, c.id); g.Size != int64(len(c.want)) {
			t.Errorf("size %d, want %d (the stored text)", g.Size, len(c.want))
		}
	}
	// A message with no Bcc, or no header end, is kept byte for byte.
	for _, keep := range []string{"To: c@d.example\r\n\r\nBcc: x\r\n", "To: c@d.example\nSubject: no body"} {
		m, err := q.Enqueue(t.Context(), Envelope{Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}, []byte(keep))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := q.Raw(t.Context(), m.ID); string(got) != keep {
			t.Errorf("stored %q, want %q", got, keep)
		}
	}
}

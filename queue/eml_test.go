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

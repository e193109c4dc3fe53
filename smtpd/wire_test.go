package smtpd

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// dataEnd is the reference: the length of message data up to and including
// the first line that is a lone dot ("." CRLF, or "." LF), or -1.
func dataEnd(b []byte) int {
	start := 0
	for start < len(b) {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i+1]
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return start + i + 1
		}
		start += i + 1
	}
	return -1
}

// The wrapper finds the end of message data wherever the client's writes
// split it, and hands on exactly the data, no byte of the next command.
func FuzzScanData(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"..\r\n.x\r\n.\r\n",
		".\r\n",
		"a.\r\n.\r\nNOOP\r\n",
		"line\n.\nNOOP\n",
		"\r\n.\r",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		w := &wireConn{data: true}
		var got []byte
		k := min(int(cut), len(b))
		for _, chunk := range [][]byte{b[:k], b[k:]} {
			w.in = append(w.in, chunk...) // what follows the data stays in in
			for w.data && len(w.in) > 0 {
				w.scanData()
				got = append(got, w.give...)
				w.give = w.give[:0]
			}
		}
		want := dataEnd(b)
		switch {
		case want < 0 && (!w.data || !bytes.Equal(got, b)):
			t.Errorf("no final dot in %q: ended %v, handed on %q", b, !w.data, got)
		case want >= 0 && (w.data || !bytes.Equal(got, b[:want]) || !bytes.Equal(w.in, b[want:])):
			t.Errorf("%q: handed on %q, kept %q; want %q then %q", b, got, w.in, b[:want], b[want:])
		}
	})
}

// futureRelease never fails on odd input, leaves a command without a hold
// as it was, and takes a hold out of the command it accepts.
func FuzzFutureRelease(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b.example> HOLDFOR=60",
		"MAIL FROM:<a@b.example> AUTH=<> HOLDUNTIL=2026-05-01T13:00:00Z SIZE=10",
		"MAIL FROM:a@b.example HOLDFOR=1",
		"MAIL FROM:<>",
		"MAIL FROM:<a@b.example HOLDFOR=5",
		"MAIL",
	} {
		f.Add(s)
	}
	s := &Server{cfg: Config{Now: func() time.Time { return testNow }, MaxHold: DefaultMaxHold}}
	f.Fuzz(func(t *testing.T, cmd string) {
		w := &wireConn{srv: s}
		out, until, reply := w.futureRelease(cmd)
		switch {
		case reply != "":
			if out != "" || !until.IsZero() || !strings.HasPrefix(reply, "501 5.5.4 ") {
				t.Errorf("%q refused with %q but out %q, until %v", cmd, reply, out, until)
			}
		case until.IsZero() && out != cmd:
			t.Errorf("%q without a hold became %q", cmd, out)
		case !until.IsZero() && (len(out) >= len(cmd) || until.Sub(testNow) > DefaultMaxHold):
			t.Errorf("%q: hold %v, command %q", cmd, until, out)
		}
	})
}

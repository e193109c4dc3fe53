package smtpd

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
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

// plainData reports whether b, message data up to its final dot, is what
// the wrapper takes in itself: every line ends in CRLF with no other CR,
// none is longer than limit-2 bytes, and b holds the final dot line.
func plainData(b []byte, limit int) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 1 || b[i-1] != '\r' || bytes.IndexByte(b[:i-1], '\r') >= 0 || i+1 > limit-2 {
			return false
		}
		if string(b[:i+1]) == ".\r\n" {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// The wrapper takes in plain message data itself, wherever the client's
// writes split it: it keeps the text as go-smtp would have read it (the
// reference is net/textproto's dot reader, of which go-smtp's is a copy
// that keeps CRLF), hands go-smtp only the final dot and keeps what
// follows for the next command. Data that is not plain, or too big, is
// left whole to be handed on as it is.
func FuzzCaptureData(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"..\r\n.x\r\n.\r\n",
		".\r\n",
		"a.\r\n.\r\nNOOP\r\n",
		"line\n.\nNOOP\n",
		"a\rb\r\n.\r\n",
		"x\r\r\n.y\r\n.\r\n",
		".\rx\r\n.\r\n",
		"\r\n.\r",
		"0123456789012345678901234567890123456789\r\n.\r\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(100))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut, max uint8) {
		const limit = 40
		srv := &Server{smtp: &smtp.Server{MaxLineLength: limit, MaxMessageBytes: int64(max)}}
		w := &wireConn{srv: srv, data: true}
		k := min(int(cut), len(b))
		for _, chunk := range [][]byte{b[:k], b[k:]} {
			w.in = append(w.in, chunk...)
			if w.data && !w.pass {
				w.capture()
			}
		}
		end := dataEnd(b)
		var want []byte
		if end >= 0 {
			r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).DotReader()
			want, _ = io.ReadAll(r)
		}
		text := w.takeData()
		tooBig := func(n int) bool { return max > 0 && n >= int(max) } // go-smtp refuses a message of max bytes
		switch {
		case text != nil:
			if end < 0 || !plainData(b[:end], limit) || !bytes.Equal(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n")), want) ||
				string(w.give) != ".\r\n" || !bytes.Equal(w.in, b[end:]) || w.data || tooBig(len(text)) {
				t.Errorf("%q: took in %q, handed on %q, kept %q", b, text, w.give, w.in)
			}
		case end >= 0 && plainData(b[:end], limit) && !tooBig(len(bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n")))):
			t.Errorf("%q: plain data of %d bytes not taken in (pass %v)", b, len(want), w.pass)
		case len(w.give) > 0 || !bytes.Equal(w.in, b):
			t.Errorf("%q: not taken in, but handed on %q, kept %q", b, w.give, w.in)
		}
	})
}

// discardConn is a connection whose writes go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// Passing on go-smtp's everyday replies costs no allocation: four replies a
// message go through Write.
func TestWriteReplyAllocs(t *testing.T) {
	w := &wireConn{rw: discardConn{}}
	reply := []byte("250 2.0.0 Roger, accepting mail from <a@b.example>\r\n")
	w.Write(reply) // the buffers grow once
	if n := testing.AllocsPerRun(100, func() {
		w.Write(reply[:10])
		w.Write(reply[10:])
	}); n != 0 {
		t.Errorf("%.1f allocations a reply", n)
	}
}

// The buffer a big message was taken into is let go at the next DATA, not
// kept for the life of the connection.
func TestCaptureLetsGoOfABigBuffer(t *testing.T) {
	srv := &Server{smtp: &smtp.Server{MaxLineLength: 2000, MaxMessageBytes: 1 << 20}}
	w := &wireConn{srv: srv}
	w.reply("354 Go ahead\r\n")
	w.in = append(w.in, strings.Repeat(strings.Repeat("x", 98)+"\r\n", 2000)+".\r\n"...)
	if !w.capture() || len(w.takeData()) != 200000 {
		t.Fatal("the message was not taken in")
	}
	w.reply("354 Go ahead\r\n")
	if cap(w.text) != 0 {
		t.Errorf("a buffer of %d bytes kept after a message of 200,000", cap(w.text))
	}
}

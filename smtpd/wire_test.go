package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
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
// message go through Write, and are written when the wrapper reads next.
func TestWriteReplyAllocs(t *testing.T) {
	w := &wireConn{rw: discardConn{}}
	reply := []byte("250 2.0.0 Roger, accepting mail from <a@b.example>\r\n")
	w.Write(reply) // the buffers grow once
	w.flush()
	if n := testing.AllocsPerRun(100, func() {
		w.Write(reply[:10])
		w.Write(reply[10:])
		w.flush()
	}); n != 0 {
		t.Errorf("%.1f allocations a reply", n)
	}
}

// The buffer a big message was taken into is let go at the next DATA, not
// kept for the life of the connection.
func TestCaptureLetsGoOfABigBuffer(t *testing.T) {
	srv := &Server{smtp: &smtp.Server{MaxLineLength: 2000, MaxMessageBytes: 1 << 20}}
	w := &wireConn{srv: srv}
	w.reply([]byte("354 Go ahead\r\n"))
	w.in = append(w.in, strings.Repeat(strings.Repeat("x", 98)+"\r\n", 2000)+".\r\n"...)
	if !w.capture() || len(w.takeData()) != 200000 {
		t.Fatal("the message was not taken in")
	}
	w.reply([]byte("354 Go ahead\r\n"))
	if cap(w.text) != 0 {
		t.Errorf("a buffer of %d bytes kept after a message of 200,000", cap(w.text))
	}
}

// writeCounter counts the writes a server makes to its side of a client's
// connection.
type writeCounter struct {
	net.Listener
	writes chan *countingConn
}

func (l writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.writes <- cc
	return cc, nil
}

type countingConn struct {
	net.Conn
	mu sync.Mutex
	n  int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Commands a client sends in one go (PIPELINING) are answered in one write
// once they are all read, not a write a reply line; the EHLO reply's lines
// go out together too.
func TestPipelinedRepliesWrittenTogether(t *testing.T) {
	conns := make(chan *countingConn, 1)
	ts := start(t, Config{}, func(l net.Listener) net.Listener { return writeCounter{l, conns} })
	rc := dialRaw(t, ts.addr())
	cc := <-conns
	before := cc.count()
	rc.send("EHLO client.example\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n")
	for _, want := range []string{"250-", "250 ", "250 ", "250 ", "250 ", "354 "} {
		if reply := rc.read(); !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %q, want %q", reply, want)
		}
	}
	if n := cc.count() - before; n != 1 {
		t.Errorf("six replies to commands sent in one go took %d writes, want 1", n)
	}
	before = cc.count()
	rc.expect("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0 Message queued as ")
	if n := cc.count() - before; n != 1 {
		t.Errorf("the reply to the message took %d writes, want 1", n)
	}
}

// A reply the client waits for is never held back: a client that sends one
// command and waits gets its reply, at every step of a message, and the
// replies to pipelined input that ends the connection (the final dot, then
// QUIT) all arrive before it is closed.
func TestRepliesNotHeldFromAWaitingClient(t *testing.T) {
	ts := start(t, Config{}, nil)
	rc := dialRaw(t, ts.addr())
	for _, step := range []struct{ line, want string }{
		{"EHLO client.example", "250-"},
		{"NOOP", "250 "},
		{"MAIL FROM:<a@b.example>", "250 "},
		{"RCPT TO:<c@d.example>", "250 "},
		{"DATA", "354 "},
		{"Subject: x\r\n\r\nhi\r\n.", "250 2.0.0 Message queued as "},
		{"RSET", "250 "},
	} {
		rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rc.expect(step.line, step.want)
	}
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rc.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "354 "} {
		if reply := rc.read(); !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %q, want %q", reply, want)
		}
	}
	rc.send("Subject: y\r\n\r\nbye\r\n.\r\nQUIT\r\n")
	for _, want := range []string{"250 2.0.0 Message queued as ", "221 "} {
		if reply := rc.read(); !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %q, want %q", reply, want)
		}
	}
	if n := ts.count(t); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}
}

// A client silent past the read timeout is told so before the connection
// is closed.
func TestIdleTimeoutSaid(t *testing.T) {
	ts := start(t, Config{ReadTimeout: 200 * time.Millisecond}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	if reply := rc.read(); !strings.HasPrefix(reply, "421 4.4.2") {
		t.Errorf("after the read timeout: %q", reply)
	}
}

// A connection costs little memory to read from: its input buffer starts
// small (a client per message, as Postfix's smtp-source sends, made the
// server allocate 32 KiB a connection, most of the garbage it collected).
func TestConnectionReadBufferSmall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &Server{smtp: &smtp.Server{MaxLineLength: 2000}}
	const conns = 50
	var total uint64
	p := make([]byte, 4096)
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("HELO client.example\r\n"))
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		w := newWireConn(sc, srv)
		n, err := w.Read(p)
		runtime.ReadMemStats(&m1)
		if err != nil || string(p[:n]) != "HELO client.example\r\n" {
			t.Fatalf("read %q, %v", p[:n], err)
		}
		total += m1.TotalAlloc - m0.TotalAlloc
		c.Close()
		sc.Close()
	}
	if per := total / conns; per > 8<<10 {
		t.Errorf("%d bytes allocated to read a connection's first command, want at most 8 KiB", per)
	}
}

// Messages of every size are read whole, however the client's writes and
// the server's reads cut them: a buffer that grows, moves its content to
// the front and is let go after a big message keeps every byte in order.
func TestReadBufferKeepsEveryByte(t *testing.T) {
	ts := start(t, Config{MaxMessageSize: 4 << 20}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	for _, size := range []int{100, 3000, 5000, 70000, 300000, 1500000, 2000} {
		var b strings.Builder
		b.WriteString("Subject: size\r\n\r\n")
		for i := 0; b.Len() < size; i++ {
			if i%7 == 0 {
				b.WriteString(".")
			}
			b.WriteString(strings.Repeat(string(rune('a'+i%26)), i%97) + "\r\n")
		}
		data := b.String() // the message; on the wire its dots are doubled
		wire := strings.ReplaceAll("\r\n"+data, "\r\n.", "\r\n..")[2:]
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		for rest := wire + ".\r\n"; rest != ""; { // in writes of odd sizes
			k := min(len(rest), 1+len(rest)%6007)
			rc.send(rest[:k])
			rest = rest[k:]
		}
		reply := rc.read()
		m := queuedRe.FindStringSubmatch(strings.TrimPrefix(reply, "250 "))
		if m == nil {
			t.Fatalf("%d bytes: reply %q", size, reply)
		}
		id, _ := queue.ParseID(m[1])
		raw, err := ts.q.Raw(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(raw), "\r\n"+data) {
			t.Errorf("%d bytes: stored %d bytes, not the message sent", size, len(raw))
		}
	}
}

// Looking at a command before go-smtp does costs no allocation, but for
// MAIL, whose FUTURERELEASE parameters it reads.
func TestCommandAllocs(t *testing.T) {
	w := &wireConn{srv: &Server{}}
	for _, line := range []string{"RCPT TO:<c@d.example>\r\n", "DATA\r\n", "rset\r\n", "EHLO client.example\r\n", "NOOP\r\n", "QUIT\r\n"} {
		b := []byte(line)
		w.command(b) // give grows once
		if n := testing.AllocsPerRun(100, func() { w.command(b) }); n != 0 {
			t.Errorf("%q: %.1f allocations", line, n)
		}
		if string(w.give) != line {
			t.Errorf("%q handed on as %q", line, w.give)
		}
	}
	w.command([]byte("ehlo client.example\r\n"))
	if w.greeting != "EHLO" || !w.ehlo {
		t.Errorf("after ehlo: greeting %q, ehlo %v", w.greeting, w.ehlo)
	}
}

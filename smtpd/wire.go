package smtpd

// go-smtp has no hook for an extension of its own: it announces a fixed set
// of EHLO keywords and answers 500 to a MAIL parameter it does not know. So
// each connection is wrapped in a wireConn that sits between the socket and
// go-smtp and speaks the few things go-smtp cannot:
//
//   - FUTURERELEASE (RFC 4865): the keyword is added to the EHLO reply, and
//     HOLDFOR= and HOLDUNTIL= are taken out of the MAIL command (checked,
//     and kept for the session) before go-smtp reads it;
//   - STARTTLS: done here, so that the wrapper keeps seeing clear text after
//     the handshake (had go-smtp done it, it would wrap the socket itself);
//   - CHUNKING is not announced and BDAT is refused, since message data is
//     only told from commands by DATA's 354 and final dot.
//
// The wrapper hands go-smtp one command line per Read, so that it always
// knows what state go-smtp is in: go-smtp has answered everything before a
// line when it asks for the next one.
//
// Replies are held and written together when the wrapper must read from
// the client again (and when the connection closes): a client that sends
// one command and waits has its reply as soon as go-smtp asks for the next
// line, while the replies to commands a client sent in one go (PIPELINING,
// and the EHLO reply's lines) go out in one write rather than one a line.
//
// Message data is taken in here (capture): go-smtp reads data a byte at a
// time through two readers, a tenth of the server's CPU in a busy ingest,
// while the wrapper, which must find the final dot anyway, reads it a line
// at a time. It keeps the lines, undoes their dot-stuffing, and hands
// go-smtp only the final dot, so that go-smtp sees an empty message and
// the session takes the text from the wrapper (takeData). Only plain data
// is taken so: lines that end in CRLF with no other CR, none longer than
// go-smtp's line limit, the whole under the size limit. Anything else
// (a bare LF, an over-long line, a message too big, a connection lost
// midway) is handed to go-smtp as it is, in pieces scanned for the final
// dot, so that its replies to such input stay its own.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLine is the longest command line kept whole: a longer one is handed on
// as it is, and go-smtp refuses it.
const maxLine = 8192

type wireConn struct {
	raw net.Conn
	srv *Server
	rw  io.ReadWriter // raw, or the TLS connection after STARTTLS

	in   []byte // read from the client, not yet handed to go-smtp
	ibuf []byte // in's buffer, all of it (see fill)
	give []byte // handed to go-smtp next

	mu       sync.Mutex // guards data and closing against Shutdown
	data     bool       // between 354 and the final dot
	dotState int        // scanner state of the final dot (see scanData)

	// capture of message data (see the top of the file)
	pass     bool   // this message's data is handed to go-smtp as it is
	capOff   int    // bytes of in already taken into text
	text     []byte // the message so far, dot-stuffing undone
	captured bool   // text is the whole message, for the session to take

	auth bool   // the next line answers a 334 challenge
	ehlo bool   // the reply being written answers EHLO
	out  []byte // a reply line being written, not yet whole
	name string // clientName, worked out once

	wmu  sync.Mutex // guards held against a Close from another goroutine
	held []byte     // whole reply lines not yet written (see the top of the file)

	tls      bool
	tlsState tls.ConnectionState
	greeting string    // HELO or EHLO, as the client last said
	hold     time.Time // FUTURERELEASE of the last MAIL; zero when none
	onTLS    func()    // told when STARTTLS has succeeded

	closeOnce sync.Once
}

func newWireConn(c net.Conn, s *Server) *wireConn {
	w := &wireConn{raw: c, rw: c, srv: s}
	w.name = clientName(c.RemoteAddr())
	return w
}

// Read hands go-smtp the next command line or a piece of message data.
func (w *wireConn) Read(p []byte) (int, error) {
	for len(w.give) == 0 {
		if err := w.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, w.give)
	w.give = w.give[n:]
	return n, nil
}

// next fills give from in, reading from the client when in holds too little.
func (w *wireConn) next() error {
	w.mu.Lock()
	data := w.data
	w.mu.Unlock()
	if data {
		if !w.pass && w.capture() {
			return nil
		}
		if w.pass && len(w.in) > 0 {
			w.scanData()
			return nil
		}
	} else if i := bytes.IndexByte(w.in, '\n'); i >= 0 || len(w.in) >= maxLine {
		line := w.in
		if i >= 0 {
			line = w.in[:i+1]
		}
		w.in = w.in[len(line):]
		return w.command(line)
	} else if w.shuttingDown() {
		w.writeRaw("421 4.3.2 " + w.srv.cfg.Hostname + " Service shutting down, try again later\r\n")
		return io.EOF
	}
	if err := w.flush(); err != nil {
		return err
	}
	n, err := w.fill()
	if err != nil && n == 0 && data && !w.pass && len(w.in) > 0 {
		// The connection ended inside the message: what came is handed
		// to go-smtp, which sees the data cut short as before.
		w.pass, w.dotState = true, 0
		return nil
	}
	if err != nil && n == 0 {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && w.shuttingDown() && !data {
			w.writeRaw("421 4.3.2 " + w.srv.cfg.Hostname + " Service shutting down, try again later\r\n")
			return io.EOF
		}
		return err
	}
	return nil
}

// readRoom is the room a connection's input buffer starts with: enough for
// a command or a small message a read. A bigger message grows it; it is
// let go again once read (up to 64 KiB is kept for the connection).
const readRoom = 4 << 10

// fill reads what the client sent next into the room after in, in ibuf,
// making room first: in is moved to the front of ibuf, or to a buffer
// twice as big when it fills half of it.
func (w *wireConn) fill() (int, error) {
	if len(w.in) == 0 {
		if cap(w.ibuf) > 64<<10 {
			w.ibuf = nil
		}
		w.in = w.ibuf[:0]
	}
	if cap(w.in)-len(w.in) < readRoom/2 {
		if w.ibuf != nil && len(w.in) <= len(w.ibuf)/2 {
			w.in = w.ibuf[:copy(w.ibuf, w.in)]
		} else {
			size := max(2*len(w.ibuf), readRoom)
			for size-len(w.in) < readRoom/2 {
				size *= 2
			}
			w.ibuf = make([]byte, size)
			w.in = w.ibuf[:copy(w.ibuf, w.in)]
		}
	}
	n, err := w.rw.Read(w.in[len(w.in):cap(w.in)])
	w.in = w.in[:len(w.in)+n]
	return n, err
}

func (w *wireConn) shuttingDown() bool { return w.srv.closing.Load() }

// captureMax is the most message data the wrapper holds while it looks
// for the final dot: a bigger message is handed to go-smtp in pieces.
const captureMax = 1 << 20

// capture takes in the complete lines of message data in in. When it finds
// the final dot it hands go-smtp that line alone and reports true; when the
// data is not plain (see the top of the file) it switches this message to
// being handed on as it is (pass) and reports false; else it reports false
// to have more read.
func (w *wireConn) capture() bool {
	limit := w.srv.smtp.MaxLineLength
	max := w.srv.smtp.MaxMessageBytes
	for {
		rest := w.in[w.capOff:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(w.in) > captureMax || (limit > 0 && len(rest) > limit-2) {
				w.pass = true
			}
			return false
		}
		line := rest[:i+1]
		// go-smtp's limit counts a line's bytes up to its CR, and one for
		// the LF before it; a line of exactly that is handed on, to be
		// judged by go-smtp.
		if i < 1 || line[i-1] != '\r' || bytes.IndexByte(line[:i-1], '\r') >= 0 || (limit > 0 && len(line) > limit-2) {
			w.pass = true
			return false
		}
		w.capOff += len(line)
		if line[0] == '.' {
			if len(line) == 3 { // ".\r\n": the end
				break
			}
			line = line[1:]
		}
		w.text = append(w.text, line...)
		if max > 0 && int64(len(w.text)) >= max {
			w.pass = true
			return false
		}
	}
	w.give = append(w.give[:0], ".\r\n"...)
	w.in = w.in[w.capOff:]
	w.capOff, w.captured = 0, true
	w.mu.Lock()
	w.data = false
	w.mu.Unlock()
	return true
}

// takeData returns the message the wrapper took in for the DATA command
// just read, or nil when it was handed to go-smtp. The text is the
// wrapper's own buffer: it is good until the next message.
func (w *wireConn) takeData() []byte {
	if !w.captured {
		return nil
	}
	w.captured = false
	if w.text == nil {
		return []byte{} // an empty message, taken in
	}
	return w.text
}

// scanData hands on message data up to and including the final dot line,
// or all of in when it holds no final dot. dotState: 0 at the start of a
// line, 1 after a dot there, 2 after ".\r", 3 inside a line.
func (w *wireConn) scanData() {
	st := w.dotState
	end := -1
	for i, b := range w.in {
		switch {
		case b == '\n' && (st == 1 || st == 2):
			end = i
		case b == '\n':
			st = 0
		case st == 0 && b == '.':
			st = 1
		case st == 1 && b == '\r':
			st = 2
		default:
			st = 3
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 {
		w.dotState = st
		w.give, w.in = append(w.give[:0], w.in...), w.in[:0]
		return
	}
	w.give = append(w.give[:0], w.in[:end+1]...)
	w.in = w.in[end+1:]
	w.mu.Lock()
	w.data, w.dotState = false, 0
	w.mu.Unlock()
}

// command looks at one command line before go-smtp does.
func (w *wireConn) command(line []byte) error {
	if w.auth { // a SASL response, not a command
		w.auth = false
		w.give = append(w.give[:0], line...)
		return nil
	}
	// The verb is the line up to its first space, or all of it but its
	// line end.
	text := bytes.TrimRight(line, "\r\n")
	verb, rest, _ := bytes.Cut(text, []byte(" "))
	switch {
	case bytes.EqualFold(verb, []byte("EHLO")):
		w.greeting = "EHLO"
		w.ehlo = true
	case bytes.EqualFold(verb, []byte("HELO")):
		w.greeting = "HELO"
	case bytes.EqualFold(verb, []byte("STARTTLS")):
		if w.srv.cfg.TLS != nil && !w.tls && len(bytes.TrimSpace(rest)) == 0 {
			return w.startTLS()
		}
	case bytes.EqualFold(verb, []byte("BDAT")):
		w.writeRaw("502 5.5.1 BDAT is not offered here: send the message with DATA\r\n")
		return nil
	case bytes.EqualFold(verb, []byte("MAIL")):
		text := string(text)
		out, hold, reply := w.futureRelease(text)
		if reply != "" {
			w.writeRaw(reply + "\r\n")
			return nil
		}
		w.hold = hold
		if out != text {
			line = []byte(out + "\r\n")
		}
	}
	w.give = append(w.give[:0], line...)
	return nil
}

// futureRelease takes HOLDFOR= and HOLDUNTIL= out of a MAIL command. It
// returns the command without them and the time the message is held until
// (zero when none), or a reply refusing the command.
func (w *wireConn) futureRelease(cmd string) (string, time.Time, string) {
	// The parameters follow the reverse path: <...> (which may hold no '>'
	// of its own), or a bare address up to the first space.
	colon := strings.IndexByte(cmd, ':')
	if colon < 0 {
		return cmd, time.Time{}, ""
	}
	start := colon + 1
	for start < len(cmd) && cmd[start] == ' ' {
		start++
	}
	var end int
	if strings.HasPrefix(cmd[start:], "<") {
		end = strings.IndexByte(cmd[start:], '>')
	} else {
		end = strings.IndexByte(cmd[start:], ' ') - 1
	}
	if end < 0 {
		return cmd, time.Time{}, ""
	}
	end += start
	var keep []string
	var until time.Time
	n := 0
	now := w.srv.cfg.Now()
	max := w.srv.cfg.MaxHold
	for _, p := range strings.Fields(cmd[end+1:]) {
		key, val, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "HOLDFOR":
			n++
			secs, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return "", time.Time{}, "501 5.5.4 Invalid HOLDFOR value: want a number of seconds"
			}
			if time.Duration(secs)*time.Second > max {
				return "", time.Time{}, fmt.Sprintf("501 5.5.4 HOLDFOR exceeds the maximum of %d seconds", int64(max/time.Second))
			}
			until = now.Add(time.Duration(secs) * time.Second)
		case "HOLDUNTIL":
			n++
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				return "", time.Time{}, "501 5.5.4 Invalid HOLDUNTIL value: want a date-time such as 2026-12-01T15:00:00Z"
			}
			if t.Sub(now) > max {
				return "", time.Time{}, fmt.Sprintf("501 5.5.4 HOLDUNTIL is later than the maximum of %s", now.Add(max).UTC().Format(time.RFC3339))
			}
			until = t
		default:
			keep = append(keep, p)
		}
	}
	if n == 0 {
		return cmd, time.Time{}, ""
	}
	if n > 1 {
		return "", time.Time{}, "501 5.5.4 Give HOLDFOR or HOLDUNTIL, once"
	}
	out := cmd[:end+1]
	if len(keep) > 0 {
		out += " " + strings.Join(keep, " ")
	}
	return out, until, ""
}

// startTLS answers STARTTLS and runs the TLS handshake. Whatever the client
// sent after the command in clear text is dropped (RFC 3207).
func (w *wireConn) startTLS() error {
	w.writeRaw("220 2.0.0 Ready to start TLS\r\n")
	w.in = w.in[:0]
	tc := tls.Server(w.raw, w.srv.cfg.TLS)
	w.raw.SetDeadline(time.Now().Add(w.srv.cfg.ReadTimeout))
	if err := tc.Handshake(); err != nil {
		w.srv.logf("warning: TLS handshake failed with %s: %v", w.clientName(), err)
		return err
	}
	w.raw.SetDeadline(time.Time{})
	w.wmu.Lock()
	w.rw = tc
	w.wmu.Unlock()
	w.tls, w.tlsState = true, tc.ConnectionState()
	w.greeting, w.hold = "", time.Time{}
	if w.onTLS != nil {
		w.onTLS()
	}
	return nil
}

// Write takes go-smtp's replies, adding to the EHLO reply and noticing
// the 354 that starts message data and the 334 of a SASL challenge, and
// holds them until the next read from the client (flush).
func (w *wireConn) Write(p []byte) (int, error) {
	w.out = append(w.out, p...)
	w.wmu.Lock()
	defer w.wmu.Unlock()
	buf := w.held
	start := 0
	for {
		i := bytes.IndexByte(w.out[start:], '\n')
		if i < 0 {
			break
		}
		line := w.out[start : start+i+1]
		start += i + 1
		buf = append(buf, w.reply(line)...)
	}
	w.out = w.out[:copy(w.out, w.out[start:])]
	w.held = buf
	return len(p), nil
}

// flush writes the replies held.
func (w *wireConn) flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.flushLocked()
}

func (w *wireConn) flushLocked() error {
	if len(w.held) == 0 {
		return nil
	}
	_, err := w.rw.Write(w.held)
	w.held = w.held[:0]
	return err
}

// reply rewrites one reply line; most it returns as they are, without a
// copy.
func (w *wireConn) reply(line []byte) []byte {
	switch {
	case bytes.HasPrefix(line, []byte("354")):
		w.mu.Lock()
		w.data, w.dotState = true, 0
		w.mu.Unlock()
		if cap(w.text) > 64<<10 {
			w.text = nil // a big message's buffer is not kept for the connection's life
		}
		w.pass, w.capOff, w.text, w.captured = false, 0, w.text[:0], false
	case bytes.HasPrefix(line, []byte("334")):
		w.auth = true
	case w.ehlo && bytes.HasPrefix(line, []byte("250-CHUNKING")):
		return nil
	case w.ehlo && bytes.HasPrefix(line, []byte("250 ")):
		w.ehlo = false
		extra := []string{}
		if w.srv.cfg.TLS != nil && !w.tls {
			extra = append(extra, "STARTTLS")
		}
		max := w.srv.cfg.MaxHold
		extra = append(extra, fmt.Sprintf("FUTURERELEASE %d %s", int64(max/time.Second), w.srv.cfg.Now().Add(max).UTC().Format(time.RFC3339)))
		b := append([]byte("250-"), line[4:]...)
		for i, e := range extra {
			sep := "-"
			if i == len(extra)-1 {
				sep = " "
			}
			b = append(b, "250"+sep+e+"\r\n"...)
		}
		return b
	case w.ehlo && !bytes.HasPrefix(line, []byte("250-")):
		w.ehlo = false
	}
	return line
}

// writeRaw writes a reply of the wrapper's own, after the replies held.
func (w *wireConn) writeRaw(s string) {
	w.raw.SetWriteDeadline(time.Now().Add(w.srv.cfg.WriteTimeout))
	w.wmu.Lock()
	w.held = append(w.held, s...)
	w.flushLocked()
	w.wmu.Unlock()
}

// kick wakes a connection waiting for a command so that it says goodbye;
// one in the middle of message data is left to finish.
func (w *wireConn) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.data {
		w.raw.SetReadDeadline(time.Now())
	}
}

// Close writes the replies held (go-smtp's 221 to QUIT, say), unless a
// write is under way on the connection's own goroutine (a Close from the
// server's, cutting a client off), and closes the connection.
func (w *wireConn) Close() error {
	err := net.ErrClosed
	w.closeOnce.Do(func() {
		if w.wmu.TryLock() {
			w.flushLocked()
			w.wmu.Unlock()
		}
		err = w.raw.Close()
		w.srv.forget(w)
	})
	return err
}

func (w *wireConn) LocalAddr() net.Addr                { return w.raw.LocalAddr() }
func (w *wireConn) RemoteAddr() net.Addr               { return w.raw.RemoteAddr() }
func (w *wireConn) SetDeadline(t time.Time) error      { return w.raw.SetDeadline(t) }
func (w *wireConn) SetReadDeadline(t time.Time) error  { return w.raw.SetReadDeadline(t) }
func (w *wireConn) SetWriteDeadline(t time.Time) error { return w.raw.SetWriteDeadline(t) }

// clientName is the client as logs show it: localhost[127.0.0.1] for
// loopback, unknown[192.0.2.7] otherwise (no reverse DNS is looked up).
func (w *wireConn) clientName() string { return w.name }

func clientName(a net.Addr) string {
	ip := addrIP(a)
	name := "unknown"
	if ip.IsLoopback() {
		name = "localhost"
	}
	return name + "[" + ip.String() + "]"
}

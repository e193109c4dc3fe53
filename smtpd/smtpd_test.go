package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"mqsh/queue"
)

var queuedRe = regexp.MustCompile(`^2\.0\.0 Message queued as ([0-9A-F]+)$`)

// A real client sends a message with DSN parameters: the reply names the
// id once the message is stored, and the stored message has the envelope,
// the DSN fields, the client and a Received header.
func TestAcceptAndQueue(t *testing.T) {
	ts := start(t, Config{}, nil)
	c, err := smtp.Dial(ts.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES", "DSN", "FUTURERELEASE"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("EHLO lacks %s", ext)
		}
	}
	if ok, _ := c.Extension("CHUNKING"); ok {
		t.Error("EHLO offers CHUNKING")
	}
	if _, p := c.Extension("SIZE"); p != fmt.Sprint(DefaultMaxMessageSize) {
		t.Errorf("SIZE %q", p)
	}
	if _, p := c.Extension("FUTURERELEASE"); p != "604800 2026-05-08T12:00:00Z" {
		t.Errorf("FUTURERELEASE %q", p)
	}
	if err := c.Mail("Alice@B.example", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-42"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@d.example", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}, OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "Bob@d.example"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("carol@e.example", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := "Subject: hello\r\n\r\n8-bit body: caf\xc3\xa9\r\n.leading dot\r\n"
	if _, err := w.Write([]byte(strings.ReplaceAll(body, "\r\n.", "\r\n"+"."))); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	mm := queuedRe.FindStringSubmatch(resp.StatusText)
	if mm == nil { // a reply other than 250 is an error of CloseWithResponse
		t.Fatalf("reply 250 %q", resp.StatusText)
	}
	c.Quit()

	id, _ := queue.ParseID(mm[1])
	m, err := ts.q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReturnPath != "Alice@B.example" || m.EnvID != "env-42" || m.Ret != "HDRS" {
		t.Errorf("message: %q %q %q", m.ReturnPath, m.EnvID, m.Ret)
	}
	if m.Client != (queue.Client{IP: "127.0.0.1", Helo: "client.example"}) {
		t.Errorf("client %+v", m.Client)
	}
	rc := m.Recipients()
	if len(rc) != 2 || rc[0].Address != "bob@d.example" || rc[0].ORCPT != "rfc822;Bob@d.example" || rc[0].Notify != queue.NotifySuccess|queue.NotifyFailure ||
		rc[1].Address != "carol@e.example" || rc[1].Notify != queue.NotifyNever || rc[1].ORCPT != "" {
		t.Errorf("recipients %+v", rc)
	}
	raw, err := ts.q.Raw(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := "Received: from client.example (localhost[127.0.0.1])\r\n\tby mx.test (mqsh) with ESMTP;\r\n\tFri, 1 May 2026 12:00:00 +0000\r\n"
	if !strings.HasPrefix(string(raw), wantHdr) || !strings.HasSuffix(string(raw), body) {
		t.Errorf("stored message:\n%q\nwant %q then %q", raw, wantHdr, body)
	}
	if m.Size != int64(len(raw)) {
		t.Errorf("size %d, raw %d", m.Size, len(raw))
	}
	ts.log.waitFor(t, fmt.Sprintf("smtpd: %s: client=localhost[127.0.0.1] from=<Alice@B.example> size=%d nrcpt=2 (queued)\n", id, len(raw)))
	ts.log.waitFor(t, "connect from localhost[127.0.0.1]")
}

// Bad input gets the right reply and stores nothing.
func TestBadInputStoresNothing(t *testing.T) {
	ts := start(t, Config{MaxMessageSize: 200, MaxRecipients: 2}, nil)
	hello := func(t *testing.T) *rawClient {
		rc := dialRaw(t, ts.addr())
		rc.expect("EHLO client.example", "250-")
		return rc
	}
	t.Run("syntax", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example", "501 ")
		rc.expect("MAIL FROM:<a@b.example> NOSUCH=1", "500 5.5.4")
		rc.expect("MAIL FROM:<a@b.example> RET=SOME", "501 5.5.4")
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4")
		rc.expect("RCPT TO:<nodomain>", "501 ")
		rc.expect("RCPT TO:<c@d.example> NOSUCH=1", "500 5.5.4")
		rc.expect("DATA", "502 ")
	})
	t.Run("size announced", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example> SIZE=1000", "552 5.3.4")
	})
	t.Run("oversized", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		rc.send("Subject: big\r\n\r\n" + strings.Repeat("x", 300) + "\r\n.\r\n")
		if reply := rc.read(); !strings.HasPrefix(reply, "552 5.3.4") {
			t.Errorf("oversized message: %q", reply)
		}
		rc.expect("NOOP", "250 ") // the session carries on
	})
	t.Run("line too long", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		rc.send("Subject: long\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n.\r\n")
		if reply := rc.read(); !strings.HasPrefix(reply, "554 5.6.0 Message refused: a line is longer") {
			t.Errorf("long line: %q", reply)
		}
	})
	t.Run("too many recipients", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c1@d.example>", "250 ")
		rc.expect("RCPT TO:<c2@d.example>", "250 ")
		rc.expect("RCPT TO:<c3@d.example>", "452 4.5.3 Too many recipients")
		rc.expect("RSET", "250 ")
	})
	t.Run("bad hold", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example> HOLDFOR=x", "501 5.5.4")
		rc.expect("MAIL FROM:<a@b.example> HOLDFOR=99999999", "501 5.5.4 HOLDFOR exceeds")
		rc.expect("MAIL FROM:<a@b.example> HOLDUNTIL=2030-01-01T00:00:00Z", "501 5.5.4 HOLDUNTIL is later")
		rc.expect("MAIL FROM:<a@b.example> HOLDFOR=10 HOLDUNTIL=2026-05-01T13:00:00Z", "501 5.5.4")
		rc.expect("BDAT 10 LAST", "502 5.5.1")
	})
	t.Run("disconnect mid-DATA", func(t *testing.T) {
		rc := hello(t)
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		rc.send("Subject: cut\r\n\r\nhalf a mess")
		rc.c.Close()
		ts.log.waitFor(t, "lost connection after DATA from localhost[127.0.0.1]")
	})
	if n := ts.count(t); n != 0 {
		t.Errorf("%d messages stored after bad input", n)
	}
	ts.log.waitFor(t, "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 452 4.5.3 Too many recipients; from=<a@b.example> to=<c3@d.example>")
	ts.log.waitFor(t, "NOQUEUE: reject: DATA from localhost[127.0.0.1]: 552 5.3.4")
}

// A client outside the relay networks that has not authenticated cannot
// send anywhere.
func TestRelayDenied(t *testing.T) {
	ts := start(t, Config{RelayNetworks: []netip.Prefix{}}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	rc.expect("MAIL FROM:<a@b.example>", "250 ")
	rc.expect("RCPT TO:<c@d.example>", "554 5.7.1 Relay access denied")
	rc.expect("DATA", "502 ")
	if n := ts.count(t); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	ts.log.waitFor(t, "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Relay access denied; from=<a@b.example> to=<c@d.example> helo=<client.example>")

	// Another network, shown through the listener, is denied by default.
	ts = start(t, Config{}, func(l net.Listener) net.Listener {
		return addrListener{Listener: l, remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}}
	})
	rc = dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	rc.expect("MAIL FROM:<a@b.example>", "250 ")
	rc.expect("RCPT TO:<c@d.example>", "554 5.7.1 Relay access denied")
	ts.log.waitFor(t, "RCPT from unknown[192.0.2.7]: 554 5.7.1")
}

// On a listener that is not loopback AUTH is offered only after STARTTLS;
// an authenticated client may relay, and the message records the user.
func TestAuthOverSTARTTLS(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	srvTLS, cliTLS := testCert(t)
	ts := start(t, Config{RelayNetworks: []netip.Prefix{}, Users: map[string]string{"alice": string(hash)}, TLS: srvTLS}, func(l net.Listener) net.Listener {
		return addrListener{Listener: l, local: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25}, remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}}
	})

	rc := dialRaw(t, ts.addr())
	ehlo := rc.expect("EHLO client.example", "250-")
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "250-STARTTLS") {
		t.Errorf("EHLO in clear text:\n%s", ehlo)
	}
	rc.expect("AUTH PLAIN AGFsaWNlAHMzY3JldA==", "538 5.7.11")

	for _, mech := range []string{"PLAIN", "LOGIN"} {
		c, err := smtp.DialStartTLS(ts.addr(), cliTLS)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		if ok, p := c.Extension("AUTH"); !ok || p != "PLAIN LOGIN" {
			t.Errorf("AUTH after STARTTLS: %v %q", ok, p)
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Error("STARTTLS offered again over TLS")
		}
		client := map[string]func(u, p string) sasl.Client{
			"PLAIN": func(u, p string) sasl.Client { return sasl.NewPlainClient("", u, p) },
			"LOGIN": sasl.NewLoginClient,
		}[mech]
		var se *smtp.SMTPError
		if err := c.Auth(client("alice", "wrong")); !errors.As(err, &se) || se.Code != 535 {
			t.Errorf("%s with a wrong password: %v", mech, err)
		}
		c.Close()

		c, err = smtp.DialStartTLS(ts.addr(), cliTLS)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(client("alice", "s3cret")); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if err := c.SendMail("a@b.example", []string{"c@d.example"}, strings.NewReader("Subject: auth\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	msgs, err := ts.q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	m, _ := ts.q.Get(context.Background(), msgs[0].ID)
	raw, _ := ts.q.Raw(context.Background(), msgs[0].ID)
	if m.Client.User != "alice" || m.Client.IP != "192.0.2.7" || !strings.Contains(string(raw), "with ESMTPSA\r\n\t(TLS1.3)\r\n\tfor <c@d.example>;") {
		t.Errorf("client %+v, message:\n%s", m.Client, raw)
	}
	ts.log.waitFor(t, "warning: unknown[192.0.2.7]: SASL PLAIN authentication failed for user \"alice\"")
	ts.log.waitFor(t, "sasl_username=alice (queued)")
}

// HOLDFOR and HOLDUNTIL make the message due at that time; other MAIL
// parameters on the same line still count.
func TestFutureRelease(t *testing.T) {
	ts := start(t, Config{}, nil)
	for _, tc := range []struct{ param, due string }{
		{"HOLDFOR=3600", "2026-05-01T13:00:00Z"},
		{"holduntil=2026-05-03T08:30:00Z", "2026-05-03T08:30:00Z"},
		{"HOLDFOR=60 AUTH=<>", "2026-05-01T12:01:00Z"},
	} {
		rc := dialRaw(t, ts.addr())
		rc.expect("EHLO client.example", "250-")
		rc.expect("MAIL FROM:<a@b.example> "+tc.param+" RET=FULL", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		reply := rc.cmd("Subject: later\r\n\r\nhi\r\n.")
		id, err := queue.ParseID(strings.TrimPrefix(reply, "250 2.0.0 Message queued as "))
		if err != nil {
			t.Fatalf("%s: reply %q", tc.param, reply)
		}
		m, err := ts.q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Due().Format(time.RFC3339); got != tc.due || m.Ret != "FULL" {
			t.Errorf("%s: due %s, RET %q; want %s, FULL", tc.param, got, m.Ret, tc.due)
		}
		rc.expect("QUIT", "221 ")
	}
}

// An arrival policy may reject a message with its own reply, or hold it.
func TestOnArrival(t *testing.T) {
	ts := start(t, Config{OnArrival: func(_ context.Context, a *Arrival) Verdict {
		switch {
		case strings.Contains(string(a.Raw), "spam"):
			return Verdict{Action: Reject, Reply: "550 5.7.1 No spam here"}
		case a.Recipients[0].Address == "hold@d.example":
			return Verdict{Action: Hold}
		}
		return Verdict{}
	}}, nil)
	send := func(rcpt, body string) string {
		rc := dialRaw(t, ts.addr())
		rc.expect("EHLO client.example", "250-")
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<"+rcpt+">", "250 ")
		rc.expect("DATA", "354 ")
		return rc.cmd(body + "\r\n.")
	}
	if reply := send("c@d.example", "Subject: spam"); reply != "550 5.7.1 No spam here" {
		t.Errorf("rejected: %q", reply)
	}
	reply := send("hold@d.example", "Subject: hold")
	id, err := queue.ParseID(strings.TrimPrefix(reply, "250 2.0.0 Message queued as "))
	if err != nil {
		t.Fatalf("held: %q", reply)
	}
	if m, _ := ts.q.Get(context.Background(), id); m == nil || !m.Held {
		t.Errorf("not held: %+v", m)
	}
	if n := ts.count(t); n != 1 {
		t.Errorf("%d messages", n)
	}
	ts.log.waitFor(t, "nrcpt=1 (held)")
}

// Sixteen sessions sending at once: every message is stored exactly once,
// and each was acknowledged with its own id.
func TestConcurrentSessions(t *testing.T) {
	ts := start(t, Config{}, nil)
	const sessions, each = 16, 25
	var wg sync.WaitGroup
	ids := make(chan string, sessions*each)
	for g := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(ts.addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if err := c.Hello("client.example"); err != nil {
				t.Error(err)
				return
			}
			for i := range each {
				rcpt := fmt.Sprintf("u%d-%d@d.example", g, i)
				if err := c.Mail("a@b.example", nil); err != nil {
					t.Error(err)
					return
				}
				if err := c.Rcpt(rcpt, nil); err != nil {
					t.Error(err)
					return
				}
				w, err := c.Data()
				if err != nil {
					t.Error(err)
					return
				}
				fmt.Fprintf(w, "Subject: %s\r\n\r\nhello\r\n", rcpt)
				resp, err := w.CloseWithResponse()
				if err != nil {
					t.Error(err)
					return
				}
				ids <- resp.StatusText
			}
			c.Quit()
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for s := range ids {
		if !queuedRe.MatchString(s) || seen[s] {
			t.Errorf("reply %q (seen before: %v)", s, seen[s])
		}
		seen[s] = true
	}
	msgs, err := ts.q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	rcpts := map[string]int{}
	for _, m := range msgs {
		for _, r := range m.Recipients() {
			rcpts[r.Address]++
		}
	}
	if len(msgs) != sessions*each || len(rcpts) != sessions*each {
		t.Errorf("%d messages, %d distinct recipients; want %d", len(msgs), len(rcpts), sessions*each)
	}
	for a, n := range rcpts {
		if n != 1 {
			t.Errorf("%s stored %d times", a, n)
		}
	}
}

// Shutdown says goodbye to an idle client and Serve returns.
func TestShutdown(t *testing.T) {
	ts := start(t, Config{}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if reply := rc.read(); !strings.HasPrefix(reply, "421 4.3.2") {
		t.Errorf("idle client told %q", reply)
	}
	if _, err := net.Dial("tcp", ts.addr()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// Commands sent in one go (PIPELINING) are answered in order, and message
// lines that look like commands are kept as they are.
func TestPipelining(t *testing.T) {
	ts := start(t, Config{}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	rc.send("MAIL FROM:<a@b.example> HOLDFOR=60\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		if reply := rc.read(); !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %q, want %q", reply, want)
		}
	}
	body := "Subject: tricky\r\n\r\nMAIL FROM:<x@y.example> HOLDFOR=5\r\nSTARTTLS\r\nBDAT 5\r\n..\r\n.x\r\n"
	rc.send(body + ".\r\nNOOP\r\n")
	reply := rc.read()
	id, err := queue.ParseID(strings.TrimPrefix(reply, "250 2.0.0 Message queued as "))
	if err != nil {
		t.Fatalf("reply %q", reply)
	}
	if reply := rc.read(); !strings.HasPrefix(reply, "250 ") {
		t.Errorf("NOOP after the message: %q", reply)
	}
	raw, _ := ts.q.Raw(context.Background(), id)
	want := strings.ReplaceAll(body, "\r\n..\r\n", "\r\n.\r\n")
	want = strings.ReplaceAll(want, "\r\n.x\r\n", "\r\nx\r\n")
	if !strings.HasSuffix(string(raw), want) {
		t.Errorf("stored:\n%q\nwant the end %q", raw, want)
	}
	if m, _ := ts.q.Get(context.Background(), id); m == nil || !m.Due().Equal(testNow.Add(time.Minute)) {
		t.Errorf("due %v", m.Due())
	}
}

// SMTPUTF8: internationalised addresses are accepted and kept as sent.
func TestSMTPUTF8(t *testing.T) {
	ts := start(t, Config{}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	rc.expect("MAIL FROM:<jörg@bücher.example> SMTPUTF8 BODY=8BITMIME", "250 ")
	rc.expect("RCPT TO:<用户@例子.example>", "250 ")
	rc.expect("DATA", "354 ")
	reply := rc.cmd("Subject: grüße\r\n\r\nhallo\r\n.")
	id, err := queue.ParseID(strings.TrimPrefix(reply, "250 2.0.0 Message queued as "))
	if err != nil {
		t.Fatalf("reply %q", reply)
	}
	m, _ := ts.q.Get(context.Background(), id)
	raw, _ := ts.q.Raw(context.Background(), id)
	if m == nil || m.ReturnPath != "jörg@bücher.example" || m.Recipients()[0].Address != "用户@例子.example" || !strings.Contains(string(raw), "with UTF8ESMTP") {
		t.Errorf("stored %+v\n%s", m, raw)
	}
}

// When Serve's context ends the server shuts down, and Serve returns only
// then: a client in the middle of DATA finishes, its message is committed
// and acknowledged, and the next command gets 421.
func TestServeStopsWithContext(t *testing.T) {
	q, err := queue.Open(t.TempDir()+"/queue.db", queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s, err := New(q, Config{Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	rc := dialRaw(t, ln.Addr().String())
	rc.expect("EHLO client.example", "250-")
	rc.expect("MAIL FROM:<a@b.example>", "250 ")
	rc.expect("RCPT TO:<c@d.example>", "250 ")
	rc.expect("DATA", "354 ")
	rc.send("Subject: in flight\r\n\r\n")
	cancel()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while a message was being received", err)
	default:
	}
	rc.expect("the end\r\n.", "250 2.0.0 Message queued as ")
	rc.send("NOOP\r\n")
	if reply := rc.read(); !strings.HasPrefix(reply, "421 4.3.2") {
		t.Errorf("after the message: %q", reply)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if n, _ := q.Count(context.Background(), queue.Filter{}); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

// On a loopback listener AUTH is offered without TLS; a client outside the
// relay networks relays once it has authenticated, and not before.
func TestAuthOnLoopback(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	ts := start(t, Config{RelayNetworks: []netip.Prefix{}, Users: map[string]string{"bob": string(hash)}}, nil)
	rc := dialRaw(t, ts.addr())
	if ehlo := rc.expect("EHLO client.example", "250-"); !strings.Contains(ehlo, "250-AUTH PLAIN LOGIN") {
		t.Errorf("EHLO on loopback:\n%s", ehlo)
	}
	rc.expect("MAIL FROM:<a@b.example>", "250 ")
	rc.expect("RCPT TO:<c@d.example>", "554 5.7.1 Relay access denied")
	rc.expect("RSET", "250 ")
	rc.expect("AUTH PLAIN AGJvYgBzM2NyZXQ=", "235 ")
	rc.expect("MAIL FROM:<a@b.example>", "250 ")
	rc.expect("RCPT TO:<c@d.example>", "250 ")
	rc.expect("DATA", "354 ")
	rc.expect("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0 Message queued as ")
	if n := ts.count(t); n != 1 {
		t.Errorf("%d messages", n)
	}
}

// Message data that the connection's wrapper does not take in itself (a
// bare LF, a stray CR, a line at go-smtp's limit, a message at the size
// limit) is handed to go-smtp as it is and gets go-smtp's treatment, to
// the byte; plain data taken in by the wrapper is stored the same way.
func TestDataAtTheEdges(t *testing.T) {
	send := func(t *testing.T, ts *testServer, data string, next string) (string, []byte) {
		t.Helper()
		rc := dialRaw(t, ts.addr())
		rc.expect("EHLO client.example", "250-")
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		rc.send(data + ".\r\n")
		reply := rc.read()
		rc.expect("NOOP", next) // the session carries on, or go-smtp ends it
		m := queuedRe.FindStringSubmatch(strings.TrimPrefix(reply, "250 "))
		if m == nil {
			return reply, nil
		}
		id, _ := queue.ParseID(m[1])
		raw, err := ts.q.Raw(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return reply, raw
	}
	ts := start(t, Config{}, nil)
	for _, c := range []struct{ name, data, want string }{
		{"plain", "Subject: p\r\n\r\n..dot\r\n.x\r\nend\r\n", "Subject: p\r\n\r\n.dot\r\nx\r\nend\r\n"},
		{"bare LF", "Subject: lf\r\n\r\nbare\n.kept\r\n..dot\r\n", "Subject: lf\r\n\r\nbare\n.kept\r\n.dot\r\n"},
		{"stray CR", "Subject: cr\r\n\r\nstray\rcr\r\nx\r\r\n.kept\r\n", "Subject: cr\r\n\r\nstray\rcr\r\nx\r\r\n.kept\r\n"},
		{"line at the limit", "Subject: l\r\n\r\n" + strings.Repeat("y", 1998) + "\r\n", "Subject: l\r\n\r\n" + strings.Repeat("y", 1998) + "\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reply, raw := send(t, ts, c.data, "250 ")
			if raw == nil || !strings.HasSuffix(string(raw), "\r\n"+c.want) {
				t.Errorf("reply %q, stored %q, want the end %q", reply, raw, c.want)
			}
		})
	}
	t.Run("line over the limit", func(t *testing.T) {
		if reply, _ := send(t, ts, "Subject: l\r\n\r\n"+strings.Repeat("y", 1999)+"\r\n", "500 5.4.0 Too long line"); !strings.HasPrefix(reply, "554 5.6.0 Message refused: a line is longer") {
			t.Errorf("reply %q", reply)
		}
	})
	small := start(t, Config{MaxMessageSize: 200}, nil)
	body := func(n int) string { // n bytes of message data
		head := "Subject: s\r\n\r\n"
		return head + strings.Repeat("z", n-len(head)-2) + "\r\n"
	}
	t.Run("just under the size limit", func(t *testing.T) {
		if reply, raw := send(t, small, body(199), "250 "); !strings.HasSuffix(string(raw), "\r\n"+body(199)) {
			t.Errorf("reply %q, stored %q", reply, raw)
		}
	})
	t.Run("at the size limit", func(t *testing.T) {
		if reply, _ := send(t, small, body(200), "250 "); !strings.HasPrefix(reply, "552 5.3.4") {
			t.Errorf("reply %q", reply)
		}
	})
}

// The queued text (Received header and message) is built in a buffer that
// fits it, for the message taken in by the connection's wrapper as for one
// read through go-smtp (a bare LF), and holds the same bytes either way.
func TestQueuedTextFits(t *testing.T) {
	type seen struct{ len, cap int }
	got := make(chan seen, 2)
	ts := start(t, Config{OnArrival: func(_ context.Context, a *Arrival) Verdict {
		got <- seen{len(a.Raw), cap(a.Raw)}
		return Verdict{}
	}}, nil)
	rc := dialRaw(t, ts.addr())
	rc.expect("EHLO client.example", "250-")
	for _, c := range []struct{ name, data string }{
		{"taken in", "Subject: fits\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 60)},
		{"through go-smtp", "Subject: lf\r\n\r\nbare\n" + strings.Repeat("0123456789abcdef\r\n", 60)},
	} {
		rc.expect("MAIL FROM:<a@b.example>", "250 ")
		rc.expect("RCPT TO:<c@d.example>", "250 ")
		rc.expect("DATA", "354 ")
		reply := rc.cmd(strings.ReplaceAll(c.data, "\r\n.", "\r\n..") + ".")
		m := queuedRe.FindStringSubmatch(strings.TrimPrefix(reply, "250 "))
		if m == nil {
			t.Fatalf("%s: reply %q", c.name, reply)
		}
		s := <-got
		id, _ := queue.ParseID(m[1])
		raw, err := ts.q.Raw(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		hdr := "Received: from client.example (localhost[127.0.0.1])\r\n\tby mx.test (mqsh) with ESMTP\r\n\tfor <c@d.example>;\r\n\tFri, 1 May 2026 12:00:00 +0000\r\n"
		if string(raw) != hdr+c.data {
			t.Errorf("%s: stored %q", c.name, raw)
		}
		if c.name == "taken in" && s.cap != s.len {
			t.Errorf("%s: a text of %d bytes in a buffer of %d", c.name, s.len, s.cap)
		}
	}
}

package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
)

// BenchmarkIngest16 measures durable ingest: 16 concurrent SMTP sessions on
// loopback, each sending 1 KiB messages one after another over its own
// connection, into a real SQLite queue with synchronous commits. Every
// message is acknowledged only after the group commit holding it. The
// "pipelined" client sends MAIL, RCPT and DATA in one write, as MTAs do
// when PIPELINING is offered; the "go-smtp" client waits for each reply.
// Run it as
//
//	go test ./smtpd/ -run '^$' -bench Ingest16 -benchtime 20000x
func BenchmarkIngest16(b *testing.B) {
	b.Run("pipelined", func(b *testing.B) { benchIngest(b, true) })
	b.Run("go-smtp", func(b *testing.B) { benchIngest(b, false) })
}

func benchIngest(b *testing.B, pipelined bool) {
	const sessions = 16
	q, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	s, err := New(q, Config{Hostname: "mx.bench"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	defer s.Shutdown(context.Background())

	body := "From: a@b.example\r\nTo: c@d.example\r\nSubject: bench\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n", 15)
	body = body[:1024-2] + "\r\n"

	clients := make([]sender, sessions)
	for i := range clients {
		if pipelined {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			c := &pipeClient{c: conn, r: bufio.NewReader(conn)}
			c.reply("")
			c.c.Write([]byte("EHLO client.bench\r\n"))
			if err := c.reply("250"); err != nil {
				b.Fatal(err)
			}
			clients[i] = c
			continue
		}
		c, err := smtp.Dial(ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Hello("client.bench"); err != nil {
			b.Fatal(err)
		}
		clients[i] = goSMTP{c}
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		n := b.N / sessions
		if i < b.N%sessions {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				if err := c.send(fmt.Sprintf("r%d-%d@d.example", i, j), body); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	for _, c := range clients {
		c.Quit()
	}
	if n, _ := q.Count(context.Background(), queue.Filter{}); n != b.N {
		b.Errorf("%d messages queued, want %d", n, b.N)
	}
}

type sender interface {
	send(rcpt, body string) error
	Quit() error
}

type goSMTP struct{ *smtp.Client }

func (p goSMTP) send(rcpt, body string) error {
	c := p.Client
	if err := c.Mail("a@b.example", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// pipeClient sends MAIL, RCPT and DATA in one write.
type pipeClient struct {
	c net.Conn
	r *bufio.Reader
}

// reply reads one reply and checks its code.
func (p *pipeClient) reply(code string) error {
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if code != "" && !strings.HasPrefix(line, code) {
			return fmt.Errorf("reply %q, want %s", line, code)
		}
		return nil
	}
}

func (p *pipeClient) send(rcpt, body string) error {
	if _, err := p.c.Write([]byte("MAIL FROM:<a@b.example>\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\n")); err != nil {
		return err
	}
	for _, code := range []string{"250", "250", "354"} {
		if err := p.reply(code); err != nil {
			return err
		}
	}
	if _, err := p.c.Write([]byte(body + ".\r\n")); err != nil {
		return err
	}
	return p.reply("250")
}

func (p *pipeClient) Quit() error {
	p.c.Write([]byte("QUIT\r\n"))
	return p.c.Close()
}

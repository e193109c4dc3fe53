package repl

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// lineLog is serve's log: whole lines written one at a time to one writer,
// from the SMTP server, the delivery engine and the notices alike.
type lineLog struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p, which holds whole lines, at once.
func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// as returns a writer that starts every line with the time and "NAME: ",
// as the SMTP server's lines start, for parts that write bare events.
func (l *lineLog) as(name string) io.Writer { return &stampedLog{l: l, name: name} }

type stampedLog struct {
	l    *lineLog
	name string
}

func (s *stampedLog) Write(p []byte) (int, error) {
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + s.name + ": "
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		b.WriteString(stamp)
		b.Write(line)
	}
	if _, err := s.l.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

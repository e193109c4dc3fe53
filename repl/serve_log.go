package repl

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// lineLog is serve's log: whole lines written one at a time to one writer,
// from the SMTP server, the delivery engine and the notices alike. Each
// line is "TIME NODE PART: event", as syslog names the host after the
// time, so that the logs of several nodes can be merged and grepped.
type lineLog struct {
	mu   sync.Mutex
	w    io.Writer
	node string // put after each line's time; "" = none
}

// Write writes p, which holds whole lines each starting with the time, at
// once, the node's name put after the time.
func (l *lineLog) Write(p []byte) (int, error) {
	out := p
	if l.node != "" {
		var b bytes.Buffer
		for _, line := range bytes.SplitAfter(p, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if i := bytes.IndexByte(line, ' '); i > 0 {
				b.Write(line[:i+1])
				b.WriteString(l.node)
				line = line[i:]
			}
			b.Write(line)
		}
		out = b.Bytes()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
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

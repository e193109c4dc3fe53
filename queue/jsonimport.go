package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	json "github.com/goccy/go-json"
)

// The JSON Lines import (ImportJSON): lines read with limits on length and
// nesting, decoded and encoded into rows on one goroutine, inserted on
// another, all in one transaction.

// importJSON does the work of ImportJSON, inside its savepoint (which has
// checked that the queue may be written).
func (tx *Tx) importJSON(r io.Reader) (Result, error) {
	res := Result{DryRun: tx.preview, Domains: map[string]int{}}
	ins, err := tx.newInserter()
	if err != nil {
		return res, tx.q.fileError("import", err)
	}
	ins.bulk = true
	fail := func(err error) (Result, error) {
		var le *lineError
		if errors.As(err, &le) {
			return Result{}, ImportError(le)
		}
		if tx.ctx.Err() != nil {
			return Result{}, fmt.Errorf("import: %w (nothing was imported)", tx.ctx.Err())
		}
		return Result{}, fmt.Errorf("import: %w (nothing was imported)", tx.q.fileError("import", err))
	}
	// Decoding and encoding the rows run in their own goroutine, ahead of
	// the inserts: the two halves of the work take about as long.
	p := &lineParser{q: tx.q, out: make(chan *rowBatch, 8), free: make(chan *rowBatch, 10), stop: make(chan struct{}), domains: res.Domains}
	defer close(p.stop)
	go p.run(r)
	for b := range p.out {
		if b.n > 0 {
			if err := ins.write(b); err != nil {
				return fail(err)
			}
		}
		if b.err != nil {
			return fail(b.err)
		}
		b.reset()
		select {
		case p.free <- b:
		default:
		}
	}
	if err := ins.finish(); err != nil {
		return fail(err)
	}
	res.IDs = ins.ids
	slices.Sort(res.IDs)
	res.Count = len(res.IDs)
	if res.Count == 0 {
		return res, nil
	}
	if err := tx.audit("import", ImportJSONAuditText(p.lines), res.IDs); err != nil {
		return Result{}, tx.q.fileError("import", err)
	}
	return res, nil
}

// lineParser decodes JSON Lines into encoded batches of rows (see rowBatch).
type lineParser struct {
	q    *Queue
	out  chan *rowBatch // batches in input order; the last may carry an error
	free chan *rowBatch // batches written, for reuse
	stop chan struct{}  // closed when the reader gives up

	// Valid once out is closed:
	lines   int            // lines read
	domains map[string]int // messages per recipient domain
}

// run reads r to the end, or to the first error (sent with the messages
// before it, as the last batch), or until stop closes.
func (p *lineParser) run(r io.Reader) {
	defer close(p.out)
	br := bufio.NewReaderSize(r, 1<<20)
	var enc rowEncoder
	b := &rowBatch{}
	send := func() bool {
		select {
		case p.out <- b:
		case <-p.stop:
			return false
		}
		select {
		case b = <-p.free:
		default:
			b = &rowBatch{}
		}
		return true
	}
	fail := func(line int, err error) {
		b.err = &lineError{line, err}
		send()
	}
	line := 0
	var buf []byte
	for {
		raw, rerr := readLine(br, buf)
		buf = raw
		if rerr == errLineTooLong {
			fail(line+1, rerr)
			return
		}
		if len(raw) > 0 {
			line++
			msgs, err := p.q.decodeLine(raw)
			if err != nil {
				fail(line, err)
				return
			}
			for _, m := range msgs {
				var h msgHeaders
				if m.text != nil { // a line of queue export: its text, and the filters' headers from it
					h = readHeaders(m.text)
				}
				if err := enc.encode(b, m, line, h); err != nil {
					fail(line, err)
					return
				}
				if m.text != nil {
					b.bodies = append(b.bodies, []any{int64(m.ID), m.text})
				}
				for _, d := range m.Domains {
					p.domains[d.Name]++
				}
			}
			if b.n >= insertBatch && !send() {
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			fail(line+1, rerr)
			return
		}
	}
	p.lines = line
	if b.n > 0 {
		send()
	}
}

// decodeLine reads the messages of one line: none for a blank line, several
// for an API list response.
func (q *Queue) decodeLine(b []byte) ([]*Message, error) {
	return decodeLine(b, q.clock, q.sched.Expire)
}

// decodeLine is Queue.decodeLine with the clock and expiry given.
func decodeLine(b []byte, clock func() time.Time, expire time.Duration) ([]*Message, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	in, err := decodeMessage(b)
	if errors.Is(err, errTooDeep) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("not a JSON message object: %v", err)
	}
	if len(in.ID) == 0 && len(in.Data) > 0 {
		// An API response: {"data": message} or {"data": {"items": [...]}}.
		inner, err := decodeMessage(in.Data)
		if err != nil {
			return nil, fmt.Errorf("data: not a JSON message object: %v", err)
		}
		if len(inner.ID) == 0 && len(inner.Items) > 0 {
			var items []json.RawMessage
			if err := json.Unmarshal(inner.Items, &items); err != nil {
				return nil, fmt.Errorf("data.items: want an array of messages: %v", err)
			}
			var out []*Message
			for i, it := range items {
				ms, err := decodeLine(it, clock, expire)
				if err != nil {
					return nil, fmt.Errorf("item %d: %w", i+1, err)
				}
				out = append(out, ms...)
			}
			return out, nil
		}
		in = inner
	}
	m, err := in.message(clock, expire)
	if err != nil {
		return nil, err
	}
	if err := normalizeMessage(m, clock, expire, true); err != nil {
		return nil, err
	}
	return []*Message{m}, nil
}

// Limits on an imported line, so that no input can exhaust the stack or the
// memory: the message shapes nest 8 levels deep at most (an API list
// response included), and a message of 1,000 recipients is well under a MiB.
const (
	maxJSONDepth = 100
	maxLineBytes = 16 << 20
)

var errTooDeep = fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)

var errLineTooLong = fmt.Errorf("longer than %d MiB: a JSON line holds one message (or one API response); split the input into lines", maxLineBytes>>20)

// readLine reads one line, newline included, into buf (reused); a line
// longer than maxLineBytes is errLineTooLong, without reading it whole.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxLineBytes {
			return buf[:0], errLineTooLong
		}
		buf = append(buf, frag...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// checkDepth refuses JSON nested deeper than maxJSONDepth, before a decoder
// recurses into it: strings are skipped, brackets counted. A line is mostly
// strings, so a string is skipped by searching for its closing quote (a
// quote after an odd run of backslashes is escaped, and searched past).
func checkDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return nil // an unterminated string: the decoder says so
				}
				i += 1 + j
				k := i - 1
				for b[k] == '\\' { // the opening quote ends the run
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return fmt.Errorf("%w (at byte %d): no message is shaped so", errTooDeep, i+1)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	json "github.com/goccy/go-json"
)

// The JSON Lines import (ImportJSON): lines read with limits on length and
// nesting on one goroutine, decoded and encoded into rows by several (one
// per core), inserted in input order on the calling one, all in one
// transaction.

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
	// Reading, decoding and encoding run in goroutines of their own, ahead
	// of the inserts; the batches come back in input order.
	p := newLineParser(tx.q)
	defer close(p.stop)
	go p.run(r)
	var seen SeenIDs // ids so far, with their lines: one id twice is refused
	for done := range p.order {
		b := <-done
		// The first message seen before is where the input ends.
		for k, id := range b.ids {
			if err := seen.Add(id, b.lines[k]); err != nil {
				b.err = &lineError{b.lines[k], err}
				b.truncate(k)
				break
			}
		}
		if b.n > 0 {
			if err := ins.write(b); err != nil {
				return fail(err)
			}
		}
		if b.err != nil {
			return fail(b.err)
		}
		p.recycle(b)
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
	for _, w := range p.domains {
		for d, n := range w {
			res.Domains[d] += n
		}
	}
	if err := tx.audit("import", ImportJSONAuditText(p.lines), res.IDs); err != nil {
		return Result{}, tx.q.fileError("import", err)
	}
	return res, nil
}

// lineChunk is a run of input lines, decoded by one worker into one
// rowBatch.
type lineChunk struct {
	data  []byte         // the lines, one after the other
	ends  []int          // where each line of data ends
	first int            // the number of the first line
	err   *lineError     // what ended the input after these lines (a line too long, a read error)
	done  chan *rowBatch // the batch decoded, to the inserter
}

// Chunks hold up to chunkLines lines, or about chunkBytes (at least one
// line): the unit of work of a decoding goroutine.
const (
	chunkLines = insertBatch
	chunkBytes = 512 << 10
)

// lineParser reads JSON Lines and decodes them into encoded batches of rows
// (see rowBatch) on several goroutines.
type lineParser struct {
	q       *Queue
	work    chan *lineChunk     // chunks to decode
	order   chan chan *rowBatch // each chunk's batch, in input order; closed at the end
	free    chan *rowBatch      // batches written, for reuse
	bufs    chan []byte         // chunk buffers decoded, for reuse
	stop    chan struct{}       // closed when the inserter gives up
	workers int

	// Valid once order is closed:
	lines   int              // lines read
	domains []map[string]int // messages per recipient domain, one map a worker
}

func newLineParser(q *Queue) *lineParser {
	w := min(max(runtime.GOMAXPROCS(0), 1), 4)
	p := &lineParser{q: q, workers: w, work: make(chan *lineChunk, w), order: make(chan chan *rowBatch, 2*w+2),
		free: make(chan *rowBatch, 2*w+4), bufs: make(chan []byte, 2*w+4), stop: make(chan struct{}),
		domains: make([]map[string]int, w)}
	for i := range p.domains {
		p.domains[i] = map[string]int{}
	}
	return p
}

// recycle hands a written batch back for reuse.
func (p *lineParser) recycle(b *rowBatch) {
	b.reset()
	select {
	case p.free <- b:
	default:
	}
}

// run reads r to the end, or to the first error (sent with the lines
// before it, as the last chunk), or until stop closes, handing chunks to
// the decoding goroutines and their batches, in order, to the inserter.
func (p *lineParser) run(r io.Reader) {
	var wg sync.WaitGroup
	for i := range p.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.decode(p.domains[i])
		}()
	}
	defer func() {
		close(p.work)
		wg.Wait() // the domain counts are complete
		close(p.order)
	}()
	br := bufio.NewReaderSize(r, 1<<20)
	var c *lineChunk
	line := 0
	newChunk := func() {
		c = &lineChunk{first: line + 1, done: make(chan *rowBatch, 1)}
		select {
		case c.data = <-p.bufs:
		default:
			c.data = make([]byte, 0, chunkBytes+chunkBytes/4)
		}
	}
	send := func() bool {
		select {
		case p.order <- c.done:
		case <-p.stop:
			return false
		}
		select {
		case p.work <- c:
		case <-p.stop:
			return false
		}
		newChunk()
		return true
	}
	newChunk()
	for {
		start := len(c.data)
		var rerr error
		c.data, rerr = appendLine(br, c.data)
		if rerr == errLineTooLong {
			c.data = c.data[:start]
			c.err = &lineError{line + 1, rerr}
			send()
			return
		}
		if len(c.data) > start {
			line++
			c.ends = append(c.ends, len(c.data))
			if (len(c.ends) >= chunkLines || len(c.data) >= chunkBytes) && !send() {
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.err = &lineError{line + 1, rerr}
			send()
			return
		}
	}
	p.lines = line
	if len(c.ends) > 0 {
		send()
	}
}

// decode decodes chunks until work closes, counting messages per domain in
// domains.
func (p *lineParser) decode(domains map[string]int) {
	for c := range p.work {
		var b *rowBatch
		select {
		case b = <-p.free:
		default:
			b = &rowBatch{}
		}
		p.decodeChunk(c, b, domains)
		if cap(c.data) <= 4*chunkBytes { // a buffer grown by a long line is let go
			select {
			case p.bufs <- c.data[:0]:
			default:
			}
		}
		c.done <- b
	}
}

// decodeChunk decodes the lines of c into b, stopping at the first error.
func (p *lineParser) decodeChunk(c *lineChunk, b *rowBatch, domains map[string]int) {
	from := 0
	for i, end := range c.ends {
		raw, line := c.data[from:end], c.first+i
		from = end
		msgs, err := p.q.decodeLine(raw)
		if err != nil {
			b.err = &lineError{line, err}
			return
		}
		for _, m := range msgs {
			var h msgHeaders
			if m.text != nil { // a line of queue export: its text, and the filters' headers from it
				h = readHeaders(m.text)
			}
			b.add(m, line, h, m.text)
			for _, d := range m.Domains {
				domains[d.Name]++
			}
		}
	}
	if c.err != nil {
		b.err = c.err
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
	b, err := appendLine(br, buf[:0])
	if err == errLineTooLong {
		return b[:0], err
	}
	return b, err
}

// appendLine appends one line, newline included, to buf; a line longer
// than maxLineBytes is errLineTooLong, without reading it whole.
func appendLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	start := len(buf)
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)-start+len(frag) > maxLineBytes {
			return buf, errLineTooLong
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

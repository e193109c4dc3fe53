package queue

import (
	"bufio"
	"io"
	"runtime"
	"sync"
	"time"
)

// LineDecoder reads JSON Lines (queue export, the v0.12 / v0.15 message
// shapes, API list responses) in chunks of whole lines, decodes each chunk
// on one of several goroutines (one per core, four at most) into a batch of
// the caller's kind B, and hands the batches back in input order: the way
// both engines import, so that decoding and encoding rows use every core
// while the caller writes. Lines are numbered from 1 in the whole input,
// and every error names its line ("line 3: ...").
type LineDecoder[B any] struct {
	Clock  func() time.Time // for the messages' defaults
	Expire time.Duration    // the expiry given a domain without one
	Lines  int              // the most lines in a chunk
	Bytes  int              // about the most bytes in a chunk (at least one line)
	New    func() B         // a new, empty batch
	Reset  func(b B)        // empties a batch consumed, for reuse
	// Add adds one decoded, normalized message of line to b; an error
	// ends the chunk there, named by its line.
	Add func(b B, line int, m *Message) error
}

// lineChunk is a run of input lines, decoded by one goroutine into one
// batch.
type lineChunk[B any] struct {
	data  []byte     // the lines, one after the other
	ends  []int      // where each line of data ends
	first int        // the number of the first line
	more  bool       // the input goes on after these lines
	err   *lineError // what ended the input after these lines (a line too long, a read error)
	done  chan chunkDone[B]
}

// chunkDone is a chunk decoded: its batch, holding the messages of the
// lines before err, if any.
type chunkDone[B any] struct {
	b   B
	err error
}

// Run reads r to its end and calls consume with each batch, in input
// order, with whether the input goes on after it, and the error (naming its
// line) that ended the input after the batch's messages, if any: consume
// writes what it was given and returns that error, or another. Run stops at
// the first error consume returns, and returns it with the lines read.
func (d LineDecoder[B]) Run(r io.Reader, consume func(b B, more bool, err error) error) (int, error) {
	workers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	work := make(chan *lineChunk[B], workers)
	order := make(chan *lineChunk[B], 2*workers+2)
	free := make(chan B, 2*workers+4)      // batches consumed, for reuse
	bufs := make(chan []byte, 2*workers+4) // chunk buffers decoded, for reuse
	stop := make(chan struct{})            // closed when consume gives up
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				var b B
				select {
				case b = <-free:
				default:
					b = d.New()
				}
				err := d.decodeChunk(c, b)
				if cap(c.data) <= 4*d.Bytes { // a buffer grown by a long line is let go
					select {
					case bufs <- c.data[:0]:
					default:
					}
				}
				c.done <- chunkDone[B]{b, err}
			}
		}()
	}
	lines := 0
	go func() {
		defer func() {
			close(work)
			wg.Wait()
			close(order)
		}()
		lines = d.cut(r, bufs, func(c *lineChunk[B]) bool {
			select {
			case order <- c:
			case <-stop:
				return false
			}
			select {
			case work <- c:
				return true
			case <-stop:
				return false
			}
		})
	}()
	defer func() {
		close(stop)
		for range order { // the reading goroutine is done with r, and lines is set
		}
	}()
	for c := range order {
		res := <-c.done
		if err := consume(res.b, c.more, res.err); err != nil {
			return 0, err
		}
		d.Reset(res.b)
		select {
		case free <- res.b:
		default:
		}
	}
	return lines, nil
}

// cut reads r into chunks of whole lines and hands each to send, in order,
// until r ends, a line is too long or a read fails (the last chunk then
// says so), or send says to stop; it returns the lines read.
func (d LineDecoder[B]) cut(r io.Reader, bufs <-chan []byte, send func(*lineChunk[B]) bool) int {
	br := bufio.NewReaderSize(r, 1<<20)
	line := 0
	var c *lineChunk[B]
	newChunk := func() {
		c = &lineChunk[B]{first: line + 1, done: make(chan chunkDone[B], 1)}
		select {
		case c.data = <-bufs:
		default:
			c.data = make([]byte, 0, d.Bytes+d.Bytes/4)
		}
	}
	newChunk()
	for {
		start := len(c.data)
		var rerr error
		c.data, rerr = appendLine(br, c.data)
		if rerr == errLineTooLong {
			c.data = c.data[:start]
			c.err = &lineError{line + 1, rerr}
			send(c)
			return line
		}
		if len(c.data) > start {
			line++
			c.ends = append(c.ends, len(c.data))
			if len(c.ends) >= d.Lines || len(c.data) >= d.Bytes {
				_, perr := br.Peek(1)
				if c.more = perr == nil; c.more {
					if !send(c) {
						return line
					}
					newChunk()
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.err = &lineError{line + 1, rerr}
			c.more = false
			send(c)
			return line
		}
	}
	if len(c.ends) > 0 {
		send(c)
	}
	return line
}

// decodeChunk decodes the lines of c into b, stopping at the first error.
func (d LineDecoder[B]) decodeChunk(c *lineChunk[B], b B) error {
	from := 0
	for i, end := range c.ends {
		raw, line := c.data[from:end], c.first+i
		from = end
		msgs, err := decodeLine(raw, d.Clock, d.Expire)
		if err != nil {
			return &lineError{line, err}
		}
		for _, m := range msgs {
			if err := d.Add(b, line, m); err != nil {
				return &lineError{line, err}
			}
		}
	}
	if c.err != nil {
		return c.err
	}
	return nil
}

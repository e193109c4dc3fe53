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
	var seen SeenIDs // ids so far, with their lines: one id twice is refused
	dec := LineDecoder[*rowBatch]{Clock: tx.q.clock, Expire: tx.q.sched.Expire, Lines: chunkLines, Bytes: chunkBytes,
		New:   func() *rowBatch { return &rowBatch{domains: map[string]int{}} },
		Reset: (*rowBatch).reset,
		Add: func(b *rowBatch, line int, m *Message) error {
			var h msgHeaders
			if m.text != nil { // a line of queue export: its text, and the filters' headers from it
				h = readHeaders(m.text)
			}
			b.add(m, line, h, m.text)
			for _, d := range m.Domains {
				b.domains[d.Name]++
			}
			return nil
		}}
	lines, err := dec.Run(r, func(b *rowBatch, _ bool, err error) error {
		// The first message seen before is where the input ends.
		for k, id := range b.ids {
			if e := seen.Add(id, b.lines[k]); e != nil {
				err = &lineError{b.lines[k], e}
				b.truncate(k)
				break
			}
		}
		if b.n > 0 {
			if err := ins.write(b); err != nil {
				return err
			}
		}
		for d, n := range b.domains {
			res.Domains[d] += n
		}
		return err
	})
	if err != nil {
		return fail(err)
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
	if err := tx.audit("import", ImportJSONAuditText(lines), res.IDs); err != nil {
		return Result{}, tx.q.fileError("import", err)
	}
	return res, nil
}

// Chunks hold up to chunkLines lines, or about chunkBytes (at least one
// line): the unit of work of a decoding goroutine.
const (
	chunkLines = insertBatch
	chunkBytes = 512 << 10
)

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

var openBrace, openBracket = []byte("{"), []byte("[")

var errTooDeep = fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)

var errLineTooLong = fmt.Errorf("longer than %d MiB: a JSON line holds one message (or one API response); split the input into lines", maxLineBytes>>20)

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
// Nesting deeper than maxJSONDepth takes more opening brackets than that,
// and a message line has a few dozen at most: a line with no more of them
// (in its strings or not) is let through after two counting passes, which
// run many bytes at a time.
func checkDepth(b []byte) error {
	if bytes.Count(b, openBrace)+bytes.Count(b, openBracket) <= maxJSONDepth {
		return nil
	}
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

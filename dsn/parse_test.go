package dsn

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// notice is a delivery status notification taken apart by go-message, the
// way a receiving mail client would see it.
type notice struct {
	header   message.Header
	typ      string            // top-level media type
	params   map[string]string // its parameters
	parts    []part
	perMsg   textproto.Header   // delivery-status per-message fields
	perRcpts []textproto.Header // delivery-status per-recipient groups
}

type part struct {
	typ    string
	params map[string]string
	cte    string
	body   []byte // decoded
}

// parseNotice parses b as a multipart/report notice, failing the test when
// it is not one.
func parseNotice(t testing.TB, b []byte) *notice {
	t.Helper()
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse notice: %v\n%s", err, b)
	}
	n := &notice{header: e.Header}
	n.typ, n.params, err = e.Header.ContentType()
	if err != nil {
		t.Fatalf("notice content type: %v", err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("notice is %s, not multipart:\n%s", n.typ, b)
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v\n%s", err, b)
		}
		var pt part
		pt.typ, pt.params, _ = p.Header.ContentType()
		pt.cte = p.Header.Get("Content-Transfer-Encoding")
		if pt.body, err = io.ReadAll(p.Body); err != nil {
			t.Fatalf("read %s part: %v", pt.typ, err)
		}
		n.parts = append(n.parts, pt)
	}
	for _, p := range n.parts {
		if p.typ == "message/delivery-status" {
			n.perMsg, n.perRcpts = parseStatus(t, p.body)
		}
	}
	return n
}

// parseStatus splits a delivery-status body into its groups of fields.
func parseStatus(t testing.TB, b []byte) (textproto.Header, []textproto.Header) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var groups []textproto.Header
	for {
		// skip stray empty lines between groups and stop at the end
		for {
			c, err := br.Peek(1)
			if err != nil {
				goto done
			}
			if c[0] != '\r' && c[0] != '\n' {
				break
			}
			br.ReadByte()
		}
		h, err := textproto.ReadHeader(br)
		if err != nil && err != io.EOF && !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("delivery-status group %d: %v\n%s", len(groups)+1, err, b)
		}
		groups = append(groups, h)
	}
done:
	if len(groups) == 0 {
		t.Fatalf("delivery-status part has no fields:\n%s", b)
	}
	return groups[0], groups[1:]
}

// fieldNames lists a header's field names in order.
func fieldNames(h textproto.Header) []string {
	var names []string
	for f := h.Fields(); f.Next(); {
		names = append(names, f.Key())
	}
	return names
}

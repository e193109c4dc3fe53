package httpapi

import (
	"bytes"
	"context"
	"testing"
)

// TestAppendWithBlobHashKeepsWhatCameBefore: a message appended to a buffer
// that already holds others (a page being built) leaves them as they were,
// and reads as the message alone would.
func TestAppendWithBlobHashKeepsWhatCameBefore(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	m, err := e.q.Get(context.Background(), idF)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := e.q.Raw(context.Background(), idF)
	alone, err := appendWithBlobHash(nil, m, raw)
	if err != nil {
		t.Fatal(err)
	}
	page, err := appendWithBlobHash([]byte(`[{"id":1},`), m, raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"id":1},` + string(alone); string(page) != want {
		t.Errorf("got  %s\nwant %s", page, want)
	}
	if n := len(alone); n < 100 || string(alone[n-2:]) != `"}` || !bytes.Contains(alone, []byte(`,"blob_hash":"`)) {
		t.Errorf("message alone: %s", alone)
	}
}

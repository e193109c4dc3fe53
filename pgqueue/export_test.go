package pgqueue_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"mqsh/queue"
	"mqsh/queue/enginetest"
)

// `queue export -u sqlite:... | queue import -u postgres://... -` carries
// every message whole, texts included: the PostgreSQL queue exports the
// same bytes again.
func TestExportFromFileImportsByteForByte(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return enginetest.Now }
	file, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.LoadDemo(ctx, 300, 7); err != nil {
		t.Fatal(err)
	}
	env := queue.Envelope{Sender: "A@x.example", Ret: "HDRS", EnvID: "e1", Client: queue.Client{IP: "192.0.2.1", User: "u", Helo: "h"},
		Recipients: []queue.EnvelopeRecipient{{Address: "R@gmail.com", ORCPT: "rfc822;R@gmail.com", Notify: queue.NotifyFailure | queue.NotifyDelay}}}
	if _, err := file.Enqueue(ctx, env, []byte("Subject: s\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := file.Export(ctx, queue.Filter{}, &out)
	if err != nil || n != 307 {
		t.Fatalf("export from the file: %d %v", n, err)
	}
	pg := open(t, now)
	if _, err := pg.ImportJSON(ctx, bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if n, err := pg.Export(ctx, queue.Filter{}, &again); err != nil || n != 307 {
		t.Fatalf("export from PostgreSQL: %d %v", n, err)
	}
	if !bytes.Equal(again.Bytes(), out.Bytes()) {
		a, b := bytes.Split(out.Bytes(), []byte("\n")), bytes.Split(again.Bytes(), []byte("\n"))
		for i := range min(len(a), len(b)) {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("line %d differs:\nfile       %s\npostgresql %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("the exports differ in length: %d and %d lines", len(a), len(b))
	}
}

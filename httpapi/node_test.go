package httpapi

import (
	"context"
	"strings"
	"testing"

	"mqsh/queue"
)

// TestAuditNamesNode: a server given Options.Node names it in the audit rows
// of the changes its requests make.
func TestAuditNamesNode(t *testing.T) {
	e := startServer(t)
	e.srv.node = "mx-7" // as New sets it from Options.Node
	var prev bool
	e.data("PATCH", "/api/queue/status/stop", &prev)
	entries, err := e.q.Audit(context.Background(), queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Source, "http admin from 127.0.0.1:") || !strings.HasSuffix(entries[0].Source, " on mx-7") {
		t.Errorf("audit: %+v", entries)
	}
}

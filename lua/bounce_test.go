package lua

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"mqsh/notices"
	"mqsh/queue"
)

// queue.bounce and retry's spread and extend_expiry, as adapters over the
// engine's verbs (the notice itself is tested in package notices).
func TestLuaBounceAndSpread(t *testing.T) {
	nf := &notices.Notifier{Hostname: "mx.test", Now: clock}
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: clock, Notices: nf.Text})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	loadFixtures(t, q)
	code := `
local now = 1714564800
local H = 3600
-- 200: gmail.com (ann) and yahoo.com (joe). Bounce the gmail.com recipient:
-- one notice to alice, joe stays.
t.eq(queue.bounce({ rcpt = "@gmail.com", sender = "alice@example.net" }, { reason = "spam run" }), 2)
t.eq(queue.get("100"), nil, "100 had only gmail.com")
local m = queue.get("200")
t.eq(m.domains[1].recipients[1].status, "permfail")
t.eq(m.domains[2].recipients[1].status, "scheduled")
t.eq(queue.count { sender = "<>", rcpt = "alice@example.net" }, 2, "a notice for each message")
-- 300 is from <>: removed without a notice.
t.eq(queue.bounce("300", { reason = "old bounce" }), 1)
t.eq(queue.count { sender = "<>", rcpt = "alice@example.net" }, 2)
t.raises(function() queue.bounce("400") end, "give {reason")
t.raises(function() queue.bounce("400", { reason = "  " }) end, "give {reason")
t.raises(function() queue.bounce("400", { why = "x" }) end, "unknown option why")

-- retry spread and extend_expiry.
t.eq(queue.retry({ sender = "<>" }, { at = now + H, spread = "1h" }), 2)
local dues = {}
for _, n in ipairs(queue.list { sender = "<>" }) do dues[#dues + 1] = n.domains[1].due end
t.eq(dues, { now + H, now + H + 1800 })
t.eq(queue.retry("400", { at = now + 30 * 86400, extend_expiry = 86400 }), 1)
t.eq(queue.get("400").domains[1].expires, now + 31 * 86400)
t.raises(function() queue.retry("400", { spread = -5 }) end, "positive")
t.raises(function() queue.retry("400", { spread = "soon" }) end, "invalid duration")
`
	var out, errOut bytes.Buffer
	s := NewSession(q, Options{Name: "bounce.lua", Code: code, Stdout: &out, Stderr: &errOut, Now: clock})
	defer s.Close()
	s.L.SetGlobal("t", testModule(s.L, t))
	if _, err := s.run(context.Background(), code, false); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
}

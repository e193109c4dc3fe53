package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	body401 = `{"type":"about:blank","status":401,"title":"Unauthorized","detail":"You have to authenticate first."}`
	body403 = `{"type":"about:blank","status":403,"title":"Forbidden","detail":"You do not have enough permissions to access this resource."}`
)

func TestAuthentication(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	apiKey := func(name, secret string) string {
		return "Bearer api_" + base64.StdEncoding.EncodeToString([]byte(name+":"+secret))
	}
	for _, c := range []struct {
		name, auth string
		code       int
	}{
		{"no header", "", 401},
		{"wrong secret", basic("admin", "guess"), 401},
		{"unknown user", basic("root", adminSecret), 401},
		{"empty secret", basic("admin", ""), 401},
		{"not base64", "Basic !!!", 401},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin")), 401},
		{"oauth token", "Bearer eyJhbGciOi.x.y", 401},
		{"unknown scheme", "Digest username=admin", 401},
		{"admin", asAdmin, 200},
		{"login trimmed and lower-cased", basic("  ADMIN ", adminSecret), 200},
		{"scheme in any case", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminSecret)), 200},
		{"viewer (argon2id)", basic("viewer", viewerSecret), 200},
		{"api key", apiKey("admin", adminSecret), 200},
		{"api key, unpadded", "Bearer api_" + base64.RawStdEncoding.EncodeToString([]byte("viewer:"+viewerSecret)), 200},
		{"api key, wrong secret", apiKey("admin", "guess"), 401},
	} {
		code, ctype, b := e.do("GET", "/api/queue/messages", c.auth)
		if code != c.code {
			t.Errorf("%s: %d %s", c.name, code, b)
		}
		if code == 401 && (ctype != "application/problem+json" || string(b) != body401) {
			t.Errorf("%s: %s %s", c.name, ctype, b)
		}
	}
	// Every route asks first, unknown paths too.
	for _, path := range []string{"/api/queue/messages/1001", "/api/queue/status", "/metrics", "/api/queue/nothing"} {
		if code, _, b := e.do("GET", path, ""); code != 401 || string(b) != body401 {
			t.Errorf("GET %s without credentials: %d %s", path, code, b)
		}
	}
}

// TestViewerRole: a viewer reads but changes nothing: 403 on every change.
func TestViewerRole(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	viewer := basic("viewer", viewerSecret)
	for _, c := range []struct{ method, path string }{
		{"DELETE", fmt.Sprintf("/api/queue/messages/%d", idA)},
		{"DELETE", fmt.Sprintf("/api/queue/messages/%d?filter=example1", idA)},
		{"PATCH", fmt.Sprintf("/api/queue/messages/%d", idA)},
		{"DELETE", "/api/queue/messages?from=bill"},
		{"PATCH", "/api/queue/messages"},
		{"PATCH", "/api/queue/status/stop"},
		{"PATCH", "/api/queue/status/start"},
	} {
		code, ctype, b := e.do(c.method, c.path, viewer)
		if code != 403 || ctype != "application/problem+json" || string(b) != body403 {
			t.Errorf("viewer %s %s: %d %s %s", c.method, c.path, code, ctype, b)
		}
	}
	for _, path := range []string{"/api/queue/messages?values=1", fmt.Sprintf("/api/queue/messages/%d", idA), "/api/queue/status", "/metrics"} {
		if code, _, b := e.do("GET", path, viewer); code != 200 {
			t.Errorf("viewer GET %s: %d %s", path, code, b)
		}
	}
	if ids, _ := e.ids(""); len(ids) != 6 {
		t.Errorf("the viewer changed the queue: %v", ids)
	}
	if entries, _ := e.q.Audit(t.Context(), auditAll); len(entries) != 1 {
		t.Errorf("audit: %+v", entries)
	}
}

// TestFailedLoginsSlowDown: each failure in a row from a client waits
// twice as long as the one before, up to the maximum; a success starts
// over. (The waits are recorded, not slept.)
func TestFailedLoginsSlowDown(t *testing.T) {
	e := startServer(t)
	for range 6 {
		e.do("GET", "/api/queue/status", basic("admin", "guess"))
	}
	e.do("GET", "/api/queue/status", "") // no credentials: no failure counted
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}
	if fmt.Sprint(e.delays) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", e.delays, want)
	}
	e.do("GET", "/api/queue/status", asAdmin)
	e.do("GET", "/api/queue/status", basic("admin", "guess"))
	if last := e.delays[len(e.delays)-1]; last != 100*ms {
		t.Errorf("after a success the first failure waits %v", last)
	}
}

func TestConfigFile(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	for _, c := range []struct{ text, err string }{
		{``, "no [[principal]]"},
		{`[[principal]]` + "\n" + `name = "a"` + "\n" + `role = "admin"` + "\n" + `secret = "plain"`, "not a bcrypt ($2y$...) or argon2id"},
		{`[[principal]]` + "\n" + `name = "a"` + "\n" + `role = "root"` + "\n" + `secret = "` + string(h) + `"`, `unknown role "root"`},
		{`[[principal]]` + "\n" + `name = "a"` + "\n" + `secret = "` + string(h) + `"`, "no role"},
		{`[[principal]]` + "\n" + `name = "a b"` + "\n" + `role = "admin"` + "\n" + `secret = "` + string(h) + `"`, "want a login name"},
		{`[[principal]]` + "\n" + `name = "a"` + "\n" + `role = "admin"` + "\n" + `secret = "` + string(h) + `"` + "\n" + `pasword = "x"`, "unknown key principal.pasword"},
		{`[[principal]]` + "\n" + `name = "a"` + "\n" + `role = "admin"` + "\n" + `secret = "$argon2id$v=19$m=0,t=1,p=1$YQ$YQ"`, "not a valid argon2id hash"},
		{strings.Repeat(`[[principal]]`+"\n"+`name = "A"`+"\n"+`role = "viewer"`+"\n"+`secret = "`+string(h)+`"`+"\n", 2), `principal "a" is given twice`},
		{`[principal`, "test.toml"},
	} {
		_, err := ParseConfig(c.text, "test.toml")
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.text, err, c.err)
		}
	}
	if _, err := AdminFromSecret(""); err == nil || !strings.Contains(err.Error(), "MQSH_ADMIN_SECRET") {
		t.Errorf("empty admin secret: %v", err)
	}
}

// TestQuickStartAdmin: the principal of $MQSH_ADMIN_SECRET is admin with
// that secret, and nothing else passes.
func TestQuickStartAdmin(t *testing.T) {
	p, err := AdminFromSecret("secret")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "admin" || p.Role != RoleAdmin || !p.verify([]byte("secret")) || p.verify([]byte("secreT")) || p.verify(nil) {
		t.Errorf("quick-start admin: %+v", p)
	}
}

// TestFailedLoginsOneAtATime: once a client address has failed, its logins
// run one at a time, waits included, so parallel connections do not
// multiply its guesses.
func TestFailedLoginsOneAtATime(t *testing.T) {
	e := startServer(t)
	var mu sync.Mutex
	active, most := 0, 0
	e.srv.auth.throttle.sleep = func(_ context.Context, d time.Duration) {
		mu.Lock()
		active++
		most = max(most, active)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		active--
		mu.Unlock()
	}
	e.do("GET", "/api/queue/status", basic("admin", "guess")) // the first failure
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { e.do("GET", "/api/queue/status", basic("admin", "guess")) })
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d failed logins waited at once", most)
	}
	if code, _, _ := e.do("GET", "/api/queue/status", asAdmin); code != 200 {
		t.Errorf("the right secret after failures: %d", code)
	}
}

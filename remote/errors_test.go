package remote

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// TestCredentials: the forms stalwart-cli takes, and what reaches the server.
func TestCredentials(t *testing.T) {
	f := newFake(v015, func() time.Time { return demoNow }, nil)
	srv := httptest.NewServer(f)
	defer srv.Close()
	key := "api_" + base64.StdEncoding.EncodeToString([]byte("mqsh:k3y"))
	prompted := ""
	prompt := func(user string) (string, error) {
		prompted = user
		return map[string]string{"admin": "secret", "viewer": "look"}[user], nil
	}
	cases := []struct {
		name    string
		url     string
		opts    Options
		wantErr error
		prompt  string
	}{
		{"user:secret", srv.URL, Options{Credentials: "admin:secret"}, nil, ""},
		{"bare secret is admin", srv.URL, Options{Credentials: "secret"}, nil, ""},
		{"API key as Bearer", srv.URL, Options{Credentials: key}, nil, ""},
		{"user only, prompted", srv.URL, Options{Credentials: "viewer:", Prompt: prompt}, nil, "viewer"},
		{"nothing, prompted for admin", srv.URL, Options{Prompt: prompt}, nil, "admin"},
		{"in the URL", strings.Replace(srv.URL, "://", "://admin:secret@", 1), Options{}, nil, ""},
		{"wrong secret", srv.URL, Options{Credentials: "admin:wr0ng"}, ErrUnauthorized, ""},
		{"wrong bare secret", srv.URL, Options{Credentials: "wr0ng"}, ErrUnauthorized, ""},
		{"wrong API key", srv.URL, Options{Credentials: "api_" + base64.StdEncoding.EncodeToString([]byte("mqsh:wr0ng"))}, ErrUnauthorized, ""},
		{"user only, no prompt", srv.URL, Options{Credentials: "admin:"}, ErrCredentials, ""},
		{"no user", srv.URL, Options{Credentials: ":wr0ng"}, ErrCredentials, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prompted = ""
			cl, err := Open(c.url, c.opts)
			if err == nil {
				defer cl.Close()
				_, err = cl.Count(ctx, queue.Filter{})
			}
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if prompted != c.prompt {
				t.Errorf("prompted for %q, want %q", prompted, c.prompt)
			}
			if err != nil && (strings.Contains(err.Error(), "wr0ng") || strings.Contains(err.Error(), "k3y")) {
				t.Errorf("the secret is in the error: %v", err)
			}
			if cl != nil && strings.Contains(cl.Location(), "secret") {
				t.Errorf("Location %q shows the secret", cl.Location())
			}
		})
	}
}

func TestOpenURL(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"https://mx.example.org:8080/", "https://mx.example.org:8080", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"mx.example.org:443", "https://mx.example.org:443", ""},
		{"https://admin:hunter2@mx.example.org", "https://mx.example.org", ""},
		{"ftp://mx.example.org", "", "scheme must be http or https"},
		{"https://", "", "no host"},
		{"https://mx.example.org/?x=1", "", "no query"},
		{"https://admin:hunter2@mx.example.org/?x=1", "", "no query"},
	} {
		c2, err := Open(c.in, Options{Credentials: "admin:x"})
		if c.err != "" {
			if !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) = %v, want an error with %q and no secret", c.in, err, c.err)
			}
			continue
		}
		if err != nil || c2.Location() != c.want {
			t.Errorf("Open(%q): %v, %v; want %s", c.in, c2, err, c.want)
		}
	}
}

// TestErrors: each failure reads as one sentence of its kind.
func TestErrors(t *testing.T) {
	respond := func(status int, ctype, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			w.Write([]byte(body))
		})
	}
	v016Fake := newFake(v016, func() time.Time { return demoNow }, nil)
	v016Fake.users["admin"] = fakeUser{secret: "s3cret", perms: allPerms}
	cases := []struct {
		name    string
		h       http.Handler
		kind    error
		mention []string
	}{
		{"v0.16 (JMAP)", v016Fake, ErrNoQueueAPI, []string{"v0.16", "JMAP", "404"}},
		{"HTML page", respond(200, "text/html", "<!doctype html><title>login</title>"), ErrBadResponse, []string{"JSON", "text/html"}},
		{"server error", respond(500, "application/problem+json", `{"type":"about:blank","status":500,"title":"Internal Server Error","detail":"store failed"}`), ErrBadResponse, []string{"500", "store failed"}},
		{"manage error on 200", respond(200, "application/json", `{"error":"other","details":"queue busy","reason":"try later"}`), ErrBadResponse, []string{"other", "queue busy"}},
		{"broken JSON", respond(200, "application/json", `{"data":{"items":[{"id":`), ErrBadResponse, []string{"cannot read"}},
		{"no data", respond(200, "application/json", `{}`), ErrBadResponse, []string{"without data"}},
		// A listed message is checked as an imported one is.
		{"recipient with a control character", respond(200, "application/json", `{"data":{"items":[{"id":7,"created":"2026-11-01T12:00:00Z","recipients":[{"address":"a\u0007b@example.org","status":"scheduled"}]}],"total":1}}`), ErrBadResponse, []string{"cannot read", "message 7", "recipient"}},
		{"created in year 0", respond(200, "application/json", `{"data":{"items":[{"id":8,"created":"0000-01-01T00:00:00Z","domains":[{"name":"example.org","status":"scheduled","recipients":[{"address":"a@example.org","status":"scheduled"}]}]}],"total":1}}`), ErrBadResponse, []string{"cannot read", "message 8", "created"}},
		{"id beyond the engine's range", respond(200, "application/json", `{"data":{"items":[{"id":18446744073709551615,"recipients":[{"address":"a@example.org","status":"scheduled"}]}],"total":1}}`), ErrBadResponse, []string{"cannot read", "out of range"}},
		{"403 problem", respond(403, "application/problem+json", `{"type":"about:blank","status":403,"title":"Forbidden","detail":"You do not have enough permissions to access this resource."}`), ErrForbidden, []string{"message-queue-list", "admin"}},
		{"401 problem", respond(401, "application/problem+json", `{"type":"about:blank","status":401,"title":"Unauthorized","detail":"You have to authenticate first."}`), ErrUnauthorized, []string{"401", "credentials"}},
		{"redirect", http.RedirectHandler("https://elsewhere.example/api/queue/messages", http.StatusFound), ErrBadResponse, []string{"redirects", "elsewhere.example"}},
		{"slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}), ErrTimeout, []string{"did not answer", "--http-timeout"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			cl, err := Open(srv.URL, Options{Credentials: "admin:s3cret", Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_, err = cl.List(ctx, queue.Filter{}, queue.Page{})
			checkErr(t, err, c.kind, c.mention...)
		})
	}
	t.Run("v0.16 get", func(t *testing.T) {
		cl := openFake(t, newFake(v016, func() time.Time { return demoNow }, nil), Options{})
		_, err := cl.Get(ctx, 0x2B91F716)
		checkErr(t, err, ErrNoQueueAPI, "v0.16")
		if errors.Is(err, queue.ErrNotFound) {
			t.Error("a server without the API is not a missing message")
		}
		_, err = cl.Paused(ctx)
		checkErr(t, err, ErrNoQueueAPI, "JMAP")
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cl, err := Open("http://"+addr, Options{Credentials: "admin:s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Count(ctx, queue.Filter{})
		checkErr(t, err, ErrUnreachable, "refused the connection", addr)
	})
}

func checkErr(t *testing.T, err error, kind error, mention ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the secret is in the error: %v", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 signed by itself.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mqsh test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLS: a self-signed server is refused with a sentence naming
// --insecure, and accepted with Insecure; https to a plain server fails
// as TLS.
func TestTLS(t *testing.T) {
	f := newFake(v015, func() time.Time { return demoNow }, nil)
	srv := httptest.NewUnstartedServer(f)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	cl, err := Open(srv.URL, Options{Credentials: "admin:secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Count(ctx, queue.Filter{})
	checkErr(t, err, ErrTLS, "--insecure", "not trusted")

	cl, err = Open(srv.URL, Options{Credentials: "admin:secret", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cl.Count(ctx, queue.Filter{}); err != nil || n != 0 {
		t.Fatalf("with Insecure: %d, %v", n, err)
	}

	plain := httptest.NewServer(f)
	defer plain.Close()
	cl, err = Open(strings.Replace(plain.URL, "http:", "https:", 1), Options{Credentials: "admin:secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Count(ctx, queue.Filter{})
	checkErr(t, err, ErrTLS, "plain http")
}

// TestFakeSpeaksStalwart: the fake refuses what Stalwart refuses, so the
// tests above test behaviour: stalwart-cli's `&`-for-`?` query is a 404,
// a hex id is a 404, and a missing header is a 401.
func TestFakeSpeaksStalwart(t *testing.T) {
	p := newPair(t, v015, 0, Options{})
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", p.srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	admin := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret"))
	for _, c := range []struct {
		path, auth string
		status     int
		body       string
	}{
		{"/api/queue/messages&from=bill1@example.net", admin, 404, "does not exist"},
		{"/api/queue/messages?from=bill1@example.net", admin, 200, `"total":1`},
		{"/api/queue/messages/2B91F716", admin, 404, "does not exist"},
		{"/api/queue/messages/730986262", admin, 200, `"id":730986262`},
		{"/api/queue/messages", "", 401, "You have to authenticate first."},
		{"/api/queue/reports/x/y", admin, 404, "Not Found"},
		{"/api/queue/messages?values=&limit=2", admin, 200, `"items":[730986262,`},
		{"/api/queue/messages?before=2020-01-01T00:00:00Z", admin, 200, `"total":6`},
	} {
		status, body := get(c.path, c.auth)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s: %d %s; want %d with %s", c.path, status, body, c.status, c.body)
		}
	}
	// The client never sends the `&` form.
	if _, err := p.client.List(ctx, queue.Filter{Domain: []string{"example.org"}}, queue.Page{}); err != nil {
		t.Fatal(err)
	}
	log := p.fake.log()
	if last := log[len(log)-1]; !strings.HasPrefix(last, "GET /api/queue/messages?") {
		t.Errorf("client request %q", last)
	}
}

// TestUnsupported: what the API cannot do says so.
func TestUnsupported(t *testing.T) {
	p := newPair(t, v015, 0, Options{})
	c := p.client
	_, err := c.Raw(ctx, 0x2B91F716)
	checkErr(t, err, ErrUnsupported, "does not serve message text")
	_, err = c.Audit(ctx, queue.AuditQuery{})
	checkErr(t, err, ErrUnsupported, "audit log")
	_, err = c.Enqueue(ctx, queue.Envelope{}, nil)
	checkErr(t, err, ErrUnsupported, "SMTP")
	_, err = c.ImportJSON(ctx, strings.NewReader(""))
	checkErr(t, err, ErrUnsupported, "import")
	_, err = c.ImportEML(ctx, nil, nil)
	checkErr(t, err, ErrUnsupported, "import")
	_, err = c.LoadDemo(ctx, 1, 1)
	checkErr(t, err, ErrUnsupported, "demo")
	if c.ReadOnly() || !c.Now().Equal(demoNow) {
		t.Errorf("ReadOnly %v, Now %v", c.ReadOnly(), c.Now())
	}
	if len(p.fake.log()) != 0 {
		t.Errorf("asked the server: %q", p.fake.log())
	}
}

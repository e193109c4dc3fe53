package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/bcrypt"

	"mqsh/httpapi"
	"mqsh/queue"
	"mqsh/repl"
)

// The end-to-end tests of the remote client (testdata/script/remote*.txtar)
// run mqsh, as a program, against mqsh's own server: httpapi on a real
// loopback listener over a real SQLite queue, started in the test process
// by the script commands below.

// scriptNow is the clock of the scripts (MQSH_NOW), and of the server's queue.
var scriptNow = time.Date(2023, 3, 1, 12, 0, 0, 0, time.UTC)

// Who may log in to the test servers: admin (change) and viewer (read only).
const (
	adminSecret  = "secret"
	viewerSecret = "look-only"
)

// remoteCmds are the script commands that start servers:
//
//	serve [-tls] DB   serves the queue file DB (created if missing) on
//	                  127.0.0.1 and sets $SERVER to its URL (https with
//	                  -tls, with a self-signed certificate made for it)
//	deadport          sets $DEAD to the URL of a loopback port nobody
//	                  listens on
//	hangport          sets $HANG to the URL of a loopback port that
//	                  accepts connections and never answers
var remoteCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"serve": func(ts *testscript.TestScript, neg bool, args []string) {
		useTLS := len(args) == 2 && args[0] == "-tls"
		if neg || len(args) != 1 && !useTLS {
			ts.Fatalf("usage: serve [-tls] DB")
		}
		url, stop, err := startServer(ts.MkAbs(args[len(args)-1]), useTLS, ts.MkAbs("."))
		if err != nil {
			ts.Fatalf("serve: %v", err)
		}
		ts.Defer(stop)
		ts.Setenv("SERVER", url)
	},
	"deadport": func(ts *testscript.TestScript, neg bool, args []string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ts.Fatalf("deadport: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ts.Setenv("DEAD", "http://"+addr)
	},
	"hangport": func(ts *testscript.TestScript, neg bool, args []string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ts.Fatalf("hangport: %v", err)
		}
		var conns []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c) // read nothing, answer nothing
			}
		}()
		ts.Defer(func() {
			ln.Close()
			<-done
			for _, c := range conns {
				c.Close()
			}
		})
		ts.Setenv("HANG", "http://"+ln.Addr().String())
	},
}

// startServer serves the queue at path over mqsh's HTTP API on a loopback
// port, as `serve --http 127.0.0.1:0` does, and returns its URL and how to
// stop it. With useTLS it speaks HTTPS with a self-signed certificate
// written under dir.
func startServer(path string, useTLS bool, dir string) (string, func(), error) {
	q, err := queue.Open(path, queue.Options{Now: func() time.Time { return scriptNow }, User: "server"})
	if err != nil {
		return "", nil, err
	}
	admin, err := httpapi.AdminFromSecret(adminSecret)
	if err != nil {
		q.Close()
		return "", nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(viewerSecret), bcrypt.MinCost)
	if err != nil {
		q.Close()
		return "", nil, err
	}
	viewers, err := httpapi.ParseConfig(fmt.Sprintf("[[principal]]\nname = \"viewer\"\nrole = \"viewer\"\nsecret = %q\n", hash), "test")
	if err != nil {
		q.Close()
		return "", nil, err
	}
	srv, err := httpapi.New(httpapi.Options{Backend: q, Principals: append(viewers, admin), FailDelay: -1})
	if err != nil {
		q.Close()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		q.Close()
		return "", nil, err
	}
	var files *httpapi.TLSFiles
	scheme := "http"
	if useTLS {
		if files, err = selfSigned(dir); err != nil {
			ln.Close()
			q.Close()
			return "", nil, err
		}
		scheme = "https"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, files) }()
	stop := func() {
		cancel()
		<-done
		q.Close()
	}
	return scheme + "://" + ln.Addr().String(), stop, nil
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// (PEM) under dir.
func selfSigned(dir string) (*httpapi.TLSFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqsh test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := &httpapi.TLSFiles{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(files.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(files.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	return files, nil
}

// TestRemoteCompletion: in the shell on a remote queue, tab completion
// offers what was listed recently, from the server: after a list of the
// messages of domain1.test, the ids and senders of those messages, and none
// of the others.
func TestRemoteCompletion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "served.db")
	q, err := queue.Open(path, queue.Options{Now: func() time.Time { return scriptNow }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.LoadDemo(context.Background(), 20, 1); err != nil {
		t.Fatal(err)
	}
	q.Close()
	url, stop, err := startServer(path, false, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	b, err := openRemote(url, repl.RemoteOptions{Credentials: adminSecret, Now: func() time.Time { return scriptNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	env := &repl.Env{Streams: repl.Streams{Stdout: &out, Stderr: io.Discard}, Session: repl.Session{Queue: b, Now: func() time.Time { return scriptNow }, Remote: true, Interactive: true}}
	if err := repl.Run(context.Background(), env, []string{"list", "-d", "domain1.test", "-o", "ids"}); err != nil {
		t.Fatal(err)
	}
	listed := strings.Fields(out.String())
	if len(listed) != 3 {
		t.Fatalf("list -d domain1.test gave %q, want the three demo messages there", listed)
	}
	c := repl.NewCompleter(repl.Commands(), env)
	ids := c.Complete(context.Background(), "status ").Items
	slices.Sort(ids)
	slices.Sort(listed)
	if !slices.Equal(ids, listed) {
		t.Errorf("status <Tab> offers %q, want the ids listed: %q", ids, listed)
	}
	senders := c.Complete(context.Background(), "cancel -s bill").Items
	if want := []string{"bill1@example.net", "bill2@example.net", "bill3@example.net"}; !slices.Equal(senders, want) {
		t.Errorf("cancel -s bill<Tab> offers %q, want %q", senders, want)
	}
	if got := c.Complete(context.Background(), "list -s bill5").Items; len(got) != 0 {
		t.Errorf("list -s bill5<Tab> offers %q, a sender of no message listed", got)
	}
}

package repl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"mqsh/httpapi"
)

// serveCommand declares `serve`: the queue's servers, until interrupted. For
// now that is Stalwart's management API over HTTP (--http); the SMTP
// listener (--smtp) joins it later, with flags of its own beside these.
func serveCommand() *Command {
	return &Command{
		Path:    []string{"serve"},
		Summary: "Serves the queue over Stalwart's management API (HTTP) until interrupted",
		Flags: []Flag{
			{Long: "http", Value: "ADDR", Kind: KindText, Repeat: true,
				Help: "Listen for the HTTP API on ADDR (host:port, e.g. 127.0.0.1:8080); may be repeated"},
			{Long: "config", Value: "FILE", Kind: KindFile,
				Help: "Configuration file (TOML) naming who may log in; without it $MQSH_ADMIN_SECRET is the secret of the principal admin"},
			{Long: "tls-cert", Value: "FILE", Kind: KindFile, Help: "Certificate chain (PEM) to speak HTTPS, with --tls-key"},
			{Long: "tls-key", Value: "FILE", Kind: KindFile, Help: "Private key (PEM) of --tls-cert"},
		},
		Run: runServe,
	}
}

// runServe listens on every --http address and serves until ctx ends
// (Ctrl-C, SIGTERM), then shuts down gracefully.
func runServe(ctx context.Context, env *Env, inv *Invocation) error {
	addrs := inv.Lists["http"]
	if len(addrs) == 0 {
		return usageFor(inv.Cmd, "serve needs --http ADDR, the address of the HTTP API (such as 127.0.0.1:8080): there is nothing else to serve yet (the SMTP listener comes later)")
	}
	var tlsFiles *httpapi.TLSFiles
	cert, key := inv.Set["tls-cert"], inv.Set["tls-key"]
	switch {
	case cert != "" && key != "":
		tlsFiles = &httpapi.TLSFiles{Cert: cert, Key: key}
	case cert != "" || key != "":
		return usageFor(inv.Cmd, "give --tls-cert and --tls-key together (the certificate chain and its private key), or neither for plain HTTP")
	}
	var principals []*httpapi.Principal
	if path := inv.Set["config"]; path != "" {
		ps, err := httpapi.LoadConfig(path)
		if err != nil {
			return err
		}
		principals = ps
	} else {
		secret := os.Getenv("MQSH_ADMIN_SECRET")
		if secret == "" {
			return usageFor(inv.Cmd, "nobody could log in: give --config FILE with [[principal]] entries (see the README, \"The HTTP API\"), or set MQSH_ADMIN_SECRET for the principal admin")
		}
		p, err := httpapi.AdminFromSecret(secret)
		if err != nil {
			return err
		}
		principals = []*httpapi.Principal{p}
	}
	srv, err := httpapi.New(httpapi.Options{Backend: env.Queue, Principals: principals, ErrorLog: env.Stderr})
	if err != nil {
		return err
	}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("serve: listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
	}
	names := make([]string, len(principals))
	for i, p := range principals {
		names[i] = p.Name + " (" + p.Role.String() + ")"
	}
	for _, ln := range lns {
		fmt.Fprintf(env.Stderr, "Serving %s with Stalwart's management API on %s://%s\n", env.Queue.Location(), scheme, ln.Addr())
	}
	fmt.Fprintf(env.Stderr, "Principals: %s. Ctrl-C stops.\n", strings.Join(names, ", "))

	// Every listener until ctx ends; the first to fail stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = srv.Serve(ctx, ln, tlsFiles); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "Stopped serving.")
	return nil
}

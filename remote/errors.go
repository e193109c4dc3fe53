package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// Error kinds, for errors.Is: the command line turns them into exit codes
// and the shell into messages. Every error the client returns wraps one of
// them (or queue.ErrNotFound for a message id the server does not have)
// inside a sentence saying what happened and what to do.
var (
	// ErrUnauthorized: the server answered 401, the credentials are wrong.
	ErrUnauthorized = errors.New("authentication failed")
	// ErrForbidden: the server answered 403, the account lacks a permission.
	ErrForbidden = errors.New("permission denied")
	// ErrNoQueueAPI: the server has no REST queue API (404 on /api/queue):
	// Stalwart v0.16 and later, or not a Stalwart server.
	ErrNoQueueAPI = errors.New("no queue API at this URL")
	// ErrTLS: the TLS handshake or certificate check failed.
	ErrTLS = errors.New("TLS failure")
	// ErrTimeout: the server did not answer in time.
	ErrTimeout = errors.New("timed out")
	// ErrUnreachable: no connection could be made (refused, no route, no
	// such host).
	ErrUnreachable = errors.New("server unreachable")
	// ErrBadResponse: the answer was not the JSON the API gives.
	ErrBadResponse = errors.New("unexpected answer from the server")
	// ErrUnsupported: the API cannot do this (message text, audit log,
	// adding messages).
	ErrUnsupported = errors.New("not available on a remote queue")
	// ErrCredentials: the credentials given cannot be used (empty secret and
	// no way to ask for one).
	ErrCredentials = errors.New("bad credentials")
	// ErrInvalidURL: the server URL given to Open cannot be used.
	ErrInvalidURL = errors.New("invalid server URL")
)

// kindError is an error of one kind with its own sentence.
type kindError struct {
	kind error
	msg  string
	err  error // the cause, if any
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Is(target error) bool { return target == e.kind }

func (e *kindError) Unwrap() error { return e.err }

func kindf(kind error, cause error, format string, a ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, a...), err: cause}
}

// transportError turns an error of the HTTP client into one sentence of a kind.
func (c *Client) transportError(ctx context.Context, err error) error {
	loc := c.Location()
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return kindf(ErrTimeout, ctxErr, "%s did not answer in time: %v", loc, ctxErr)
		}
		return fmt.Errorf("request to %s: %w", loc, ctxErr)
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalid     x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alert       tls.AlertError
		dnsErr      *net.DNSError
		netErr      net.Error
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid):
		return kindf(ErrTLS, err, "the TLS certificate of %s is not trusted (%v): for a test server with a self-signed certificate use --insecure", loc, innerCause(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return kindf(ErrTLS, err, "%s did not answer with TLS: is it plain http://?", loc)
	case errors.As(err, &alert):
		return kindf(ErrTLS, err, "the TLS handshake with %s failed (%v): check the URL's port and scheme, or use --insecure for a self-signed test server", loc, innerCause(err))
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindf(ErrUnreachable, err, "%s refused the connection: is the server running and is the port right?", loc)
	case errors.As(err, &dnsErr):
		return kindf(ErrUnreachable, err, "cannot find the host of %s: %v", loc, dnsErr)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return kindf(ErrTimeout, err, "%s did not answer within %s: check the server, or give it longer with --http-timeout", loc, c.timeout)
	}
	return kindf(ErrUnreachable, err, "cannot reach %s: %v", loc, innerCause(err))
}

// innerCause strips url.Error's "Get URL:" prefix, which would repeat the URL.
func innerCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

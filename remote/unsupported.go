package remote

import (
	"context"
	"errors"
	"io"

	"mqsh/queue"
)

// What Stalwart's management API does not offer.

// Raw is refused: the queue API serves no message text.
func (c *Client) Raw(ctx context.Context, id queue.ID) ([]byte, error) {
	return nil, kindf(ErrUnsupported, nil, "raw %s: the remote queue API does not serve message text; use Stalwart's web admin or the server's own tools to read a message", id)
}

// Audit is refused: the server keeps no audit log mqsh can read.
func (c *Client) Audit(ctx context.Context, aq queue.AuditQuery) ([]queue.AuditEntry, error) {
	return nil, kindf(ErrUnsupported, nil, "audit: a remote Stalwart server keeps no audit log mqsh can read; its changes are in the server's own logs")
}

// Enqueue is refused: the API cannot add messages.
func (c *Client) Enqueue(ctx context.Context, env queue.Envelope, raw []byte) (*queue.Message, error) {
	return nil, addRefused("add")
}

// ImportJSON is refused: the API cannot add messages.
func (c *Client) ImportJSON(ctx context.Context, r io.Reader) (queue.Result, error) {
	return queue.Result{}, addRefused("import")
}

// ImportEML is refused: the API cannot add messages.
func (c *Client) ImportEML(ctx context.Context, raw []byte, env *queue.Envelope) (*queue.Message, error) {
	return nil, addRefused("import")
}

// LoadDemo is refused: the API cannot add messages.
func (c *Client) LoadDemo(ctx context.Context, n int, seed int64) (queue.Result, error) {
	return queue.Result{}, addRefused("demo")
}

func addRefused(verb string) error {
	return kindf(ErrUnsupported, nil, "%s: a remote Stalwart queue cannot be added to through its management API; send the mail to the server over SMTP, or use a local queue file", verb)
}

// matcherError words the Matcher's refusal of a filter key the client
// cannot finish: Stalwart's queue API gives neither the message text
// (subject, message-id, header: fetching every text to read it would cost
// a request per message) nor the SMTP client. Other errors pass as they are.
func (c *Client) matcherError(err error) error {
	var ie *queue.InMemoryError
	if !errors.As(err, &ie) {
		return err
	}
	return kindf(ErrUnsupported, nil, "the %s filter is not available on the Stalwart server at %s: it reads %s, which the server's queue API does not give; narrow by sender, recipient, domain, times, status or size there, or run the filter on a local queue file", ie.Key.Name, c.Location(), ie.Key.Stored)
}

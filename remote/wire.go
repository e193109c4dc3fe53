package remote

import (
	"time"

	"mqsh/queue"
)

// The JSON the API speaks. A list answers {"data":{"items":[…],"total":N,
// "status":BOOL}}, items being whole messages with values=1; one message
// answers {"data":MESSAGE}. A message comes in one of two shapes:
//
//   - up to v0.12, domains[]: per-domain name, status, retry_num,
//     next_retry, next_notify, expires, and recipients (address, status,
//     orcpt);
//   - v0.13 on, recipients[]: per recipient address, queue, status,
//     retry_num, next_retry, next_notify, expires, orcpt.
//
// A status is "scheduled" or one key: completed, temp_fail, perm_fail, with
// the details as its value. mqsh's own server sends both arrays; domains[]
// is then read (it is the richer one) and the recipients[] semantics of the
// change routes are assumed. queue.MessageJSON reads both, as the import
// of a file does.

// listData is the data of a list answer with values=1.
type listData struct {
	Items []queue.MessageJSON `json:"items"`
	Total int                 `json:"total"`
}

// totalData is the data of a list answer read for its total only.
type totalData struct {
	Total int `json:"total"`
}

// remoteMessage is a message as listed, with what the change routes need
// to know of its server.
type remoteMessage struct {
	queue.Message
	perRecipient bool // recipients[] (v0.13+): filter= matches addresses, not domain names
}

// toMessage reads a message of either shape as queue.ImportJSON does, with
// the same checks: a server's message that mqsh's own queue could not hold
// is refused with the reason. clock dates a message without a creation
// time.
func toMessage(w *queue.MessageJSON, clock func() time.Time) (remoteMessage, error) {
	m, err := w.Message(clock)
	if err != nil {
		return remoteMessage{}, err
	}
	return remoteMessage{Message: *m, perRecipient: len(w.Recipients) > 0}, nil
}

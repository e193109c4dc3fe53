package notices

import (
	"fmt"

	"mqsh/delivery"
	"mqsh/dsn"
	"mqsh/queue"
)

// Text writes the notice of n, about the original message raw (nil when not
// kept), without queueing it: nil when no notice is owed. It is a
// queue.NoticeWriter, given to the queue for the failure notices of
// `queue bounce`, which the engine queues in the same change as the bounce.
func (nf *Notifier) Text(n queue.Notice, raw []byte) ([]byte, error) {
	r, ok := nf.Report(delivery.Notice{Notice: n, Raw: raw})
	if !ok {
		return nil, nil
	}
	b, err := dsn.Build(r)
	if err != nil {
		return nil, fmt.Errorf("build notice: %w", err)
	}
	return b, nil
}

var _ queue.NoticeWriter = (&Notifier{}).Text

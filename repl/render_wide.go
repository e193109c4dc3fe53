package repl

import (
	"strings"
	"time"

	"mqsh/queue"
)

// wideReplyWidth is how much of a recipient's last reply `list -o wide`
// shows; the rest is cut with "…" (queue status shows it whole).
const wideReplyWidth = 60

// ListWideTable renders messages as `queue list -o wide` does: the columns of
// ListTable, then when each was created and its age at now, whether it is
// held, and each recipient's last reply on the recipient's line.
func ListWideTable(msgs []queue.Message, now time.Time, color bool) string {
	rows, header := listRows(msgs, color)
	p := painter{on: color}
	header = append(header, p.bold("Created"), p.bold("Age"), p.bold("Held"), p.bold("Last Reply"))
	for i := range msgs {
		m := &msgs[i]
		var replies []string
		for _, d := range m.Domains {
			for _, r := range d.Recipients {
				replies = append(replies, cutText(clean(r.Details()), wideReplyWidth))
			}
		}
		held := ""
		if m.Held {
			held = "held"
		}
		rows[i].cells = append(rows[i].cells, m.Created.UTC().Format("2006-01-02 15:04:05"),
			shortDuration(max(0, now.Sub(m.Created))), held, strings.Join(replies, "\n"))
	}
	return renderGrid(rows, header)
}

// cutText keeps at most n runes of s, the last one "…" when it cuts.
func cutText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

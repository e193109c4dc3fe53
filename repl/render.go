package repl

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"

	"mqsh/queue"
)

// Rendering lives here: the stalwart-cli tables (prettytable's FORMAT_DEFAULT
// look, reproduced with go-pretty), JSON Lines, CSV and bare ids.

// DateLayout is how every table shows a time: Wed, 1 Mar 2023 11:51:01 +0000, in UTC.
const DateLayout = "Mon, 2 Jan 2006 15:04:05 -0700"

// FormatDate renders t as stalwart-cli does; the zero time is "None".
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return "None"
	}
	return t.UTC().Format(DateLayout)
}

// FormatSize renders a size as stalwart-cli does: always bytes, "1142 B".
func FormatSize(n int64) string { return strconv.FormatInt(n, 10) + " B" }

// rfc3339 is the machine form of a time; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// sender is the return path as tables show it: <> for a bounce.
func sender(m *queue.Message) string {
	if m.ReturnPath == "" {
		return "<>"
	}
	return m.ReturnPath
}

// clean makes text from the queue safe to print on a terminal: control
// characters (escape sequences included) become '?', tabs and newlines spaces.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return '?'
		}
		return r
	}, s)
}

// painter colours statuses and bold headers, or does nothing without colour.
type painter struct{ on bool }

func (p painter) status(s queue.Status, word string) string {
	if !p.on {
		return word
	}
	c := text.FgCyan
	switch s {
	case queue.Completed:
		c = text.FgGreen
	case queue.TempFail:
		c = text.FgYellow
	case queue.PermFail:
		c = text.FgRed
	}
	return text.Colors{c}.Sprint(word)
}

func (p painter) bold(s string) string {
	if !p.on {
		return s
	}
	return text.Colors{text.Bold}.Sprint(s)
}

func (p painter) boldItalic(s string) string {
	if !p.on {
		return s
	}
	return text.Colors{text.Bold, text.Italic}.Sprint(s)
}

// tableRow is one row of a prettytable-style table; a span row is one cell
// across every column.
type tableRow struct {
	cells []string
	span  bool
	align text.Align // of a span row
}

// renderTable draws rows as prettytable's FORMAT_DEFAULT does: +---+ borders, a
// separator line under every row, one space of padding, left-aligned cells,
// multi-line cells. Column widths follow prettytable, where a cell spanning n
// columns needs ceil((width-3)/n) of each. go-pretty draws the table; span
// rows are drawn in its placeholder lines, because go-pretty sizes merged cells
// differently. The result ends in a newline.
func renderTable(rows []tableRow, header []string) string {
	widths := columnWidths(rows, header)
	ncol := len(widths)

	t := table.NewWriter()
	style := table.StyleDefault
	style.Format.Header = text.FormatDefault
	style.Format.HeaderAlign = text.AlignLeft
	style.Options.SeparateRows = true
	t.SetStyle(style)
	configs := make([]table.ColumnConfig, ncol)
	for i := range configs {
		configs[i] = table.ColumnConfig{Number: i + 1, WidthMin: widths[i], Align: text.AlignLeft, AlignHeader: text.AlignLeft}
	}
	t.SetColumnConfigs(configs)
	if len(header) > 0 {
		h := make(table.Row, len(header))
		for i, c := range header {
			h[i] = c
		}
		t.AppendHeader(h)
	}
	for _, r := range rows {
		row := make(table.Row, ncol)
		for i := range row {
			row[i] = ""
			if !r.span && i < len(r.cells) {
				row[i] = r.cells[i]
			}
		}
		t.AppendRow(row)
	}
	lines := strings.Split(t.Render(), "\n")

	// Draw the span rows over their placeholder lines.
	inner := 3*(ncol-1) + sum(widths)
	at := 1
	if len(header) > 0 {
		at += height(header) + 1
	}
	for _, r := range rows {
		if r.span && at < len(lines) {
			lines[at] = "| " + alignText(r.align, r.cells[0], inner) + " |"
		}
		if r.span {
			at += 2
		} else {
			at += height(r.cells) + 1
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// alignText pads s to width as prettytable does (centring puts the odd space
// on the right).
func alignText(a text.Align, s string, width int) string {
	fill := max(0, width-text.StringWidthWithoutEscSequences(s))
	left := 0
	switch a {
	case text.AlignRight:
		left = fill
	case text.AlignCenter:
		left = fill / 2
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", fill-left)
}

func height(cells []string) int {
	h := 1
	for _, c := range cells {
		h = max(h, strings.Count(c, "\n")+1)
	}
	return h
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// ListTable renders messages as `queue list` does: ID, Delivery Due, Sender,
// Recipients (one line each, with the short status), Size.
func ListTable(msgs []queue.Message, color bool) string {
	return renderGrid(listRows(msgs, color))
}

// listRows are the rows and header of ListTable.
func listRows(msgs []queue.Message, color bool) ([]tableRow, []string) {
	p := painter{on: color}
	header := []string{p.bold("ID"), p.bold("Delivery Due"), p.bold("Sender"), p.bold("Recipients"), p.bold("Size")}
	rows := make([]tableRow, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var rcpts []string
		for _, d := range m.Domains {
			for _, r := range d.Recipients {
				word := r.Status.Short()
				if d.Hold != nil && r.Status.Pending() {
					word = "held" // a pending recipient of a held domain
				}
				rcpts = append(rcpts, clean(r.Address)+" ("+p.status(r.Status, word)+")")
			}
		}
		rows = append(rows, tableRow{cells: []string{
			m.ID.String(), FormatDate(m.Due()), clean(sender(m)), strings.Join(rcpts, "\n"), FormatSize(m.Size),
		}})
	}
	return rows, header
}

// columnWidths sizes the columns as prettytable does: the widest line of any
// cell, and for a row spanning all n columns ceil((width-3)/n) of each.
func columnWidths(rows []tableRow, header []string) []int {
	ncol := len(header)
	for _, r := range rows {
		ncol = max(ncol, len(r.cells))
	}
	widths := make([]int, ncol)
	measure := func(cells []string) {
		for i, c := range cells {
			widths[i] = max(widths[i], longestLine(c))
		}
	}
	measure(header)
	for _, r := range rows {
		if !r.span {
			measure(r.cells)
		}
	}
	for _, r := range rows {
		if r.span && ncol > 0 {
			each := (max(0, text.LongestLineLen(r.cells[0])-3) + ncol - 1) / ncol
			for i := range widths {
				widths[i] = max(widths[i], each)
			}
		}
	}
	return widths
}

// renderGrid draws a table without span rows exactly as renderTable does, in
// a twentieth of the time: the list of a big queue is one such table per page,
// and go-pretty's general renderer cost more than reading the messages.
// TestRenderGridMatchesRenderTable holds the two to the same output.
func renderGrid(rows []tableRow, header []string) string {
	widths := columnWidths(rows, header)
	if len(widths) == 0 {
		return "\n" // as renderTable: nothing to draw
	}
	var rl strings.Builder
	rl.WriteByte('+')
	for _, w := range widths {
		rl.WriteString(strings.Repeat("-", w+2))
		rl.WriteByte('+')
	}
	rl.WriteByte('\n')
	ruleLine := rl.String()
	var b strings.Builder
	rule := func() {
		b.WriteString(ruleLine)
	}
	pad := func(n int) {
		for ; n > 0; n -= len(spaces) {
			b.WriteString(spaces[:min(n, len(spaces))])
		}
	}
	rest := make([]string, len(widths)) // each cell's lines not yet drawn
	done := make([]bool, len(widths))   // the cell has no more lines
	row := func(cells []string) {
		for i := range rest {
			rest[i], done[i] = "", false
			if i < len(cells) {
				rest[i] = cells[i]
			}
		}
		for more := true; more; {
			more = false
			b.WriteByte('|')
			for i, w := range widths {
				c := ""
				if !done[i] {
					var found bool
					if c, rest[i], found = strings.Cut(rest[i], "\n"); found {
						more = true
					} else {
						done[i] = true
					}
				}
				b.WriteByte(' ')
				b.WriteString(c)
				pad(w - displayWidth(c) + 1)
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rule()
	}
	rule()
	if len(header) > 0 {
		row(header)
	}
	for _, r := range rows {
		row(r.cells)
	}
	if len(rows) == 0 && len(header) > 0 {
		rule() // go-pretty closes a header-only table with a second rule
	}
	return b.String()
}

// spaces pads cells (renderGrid).
const spaces = "                                                                "

// displayWidth is text.StringWidthWithoutEscSequences(s), counted directly
// when s is printable ASCII (one column a byte), as nearly every cell is.
func displayWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return text.StringWidthWithoutEscSequences(s)
		}
	}
	return len(s)
}

// longestLine is text.LongestLineLen(s), counted directly when s is
// printable ASCII and newlines.
func longestLine(s string) int {
	longest, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			longest, start = max(longest, i-start), i+1
		case c < 0x20 || c > 0x7e:
			return text.LongestLineLen(s)
		}
	}
	return max(longest, len(s)-start)
}

// StatusTable renders one message as `queue status` does: the message rows,
// then per domain a right-aligned domain row, its status, details, retry count,
// due, notify and expiry times and a nested table of its recipients. idText is
// the id as the user typed it; m nil gives the "-- Not found --" table.
func StatusTable(idText string, m *queue.Message, color bool) string {
	p := painter{on: color}
	row := func(k, v string) tableRow { return tableRow{cells: []string{p.bold(k), v}} }
	rows := []tableRow{row("ID", clean(idText))}
	if m == nil {
		rows = append(rows, tableRow{cells: []string{"-- Not found --"}, span: true, align: text.AlignCenter})
		return renderTable(rows, nil)
	}
	rows = append(rows, row("Sender", clean(sender(m))), row("Created", FormatDate(m.Created)), row("Size", FormatSize(m.Size)))
	if m.EnvID != "" {
		rows = append(rows, row("Env-Id", clean(m.EnvID)))
	}
	if m.Priority != 0 {
		rows = append(rows, row("Priority", strconv.Itoa(m.Priority)))
	}
	for _, d := range m.Domains {
		rows = append(rows, tableRow{cells: []string{p.boldItalic(clean(d.Name))}, span: true, align: text.AlignRight})
		rows = append(rows,
			row("Status", p.status(d.Status, d.Status.Long())),
			row("Details", clean(d.Details)),
			row("Retry #", strconv.Itoa(d.RetryNum)))
		if d.Hold != nil {
			rows = append(rows, row("Held", clean(HoldText(d.Hold))))
		}
		if !d.Due.IsZero() {
			rows = append(rows, row("Delivery Due", FormatDate(d.Due)))
		}
		if !d.NotifyAt.IsZero() {
			rows = append(rows, row("Notify at", FormatDate(d.NotifyAt)))
		}
		rows = append(rows, row("Expires", FormatDate(d.Expires)))
		inner := []tableRow{{cells: []string{p.bold("Address"), p.bold("Status"), p.bold("Details")}}}
		for _, r := range d.Recipients {
			inner = append(inner, tableRow{cells: []string{clean(r.Address), p.status(r.Status, r.Status.Long()), clean(r.Details())}})
		}
		rows = append(rows, row("Recipients", strings.TrimSuffix(renderTable(inner, nil), "\n")))
	}
	return renderTable(rows, nil)
}

// HoldText says a domain's hold in one line, as `queue status` shows it:
// "by alice since Wed, 1 May 2024 12:00:00 +0000 until Wed, 1 May 2024
// 14:00:00 +0000: rate limited" ("until released" when it has no end; the
// reason only when one was given).
func HoldText(h *queue.Hold) string {
	s := "by " + h.By + " since " + FormatDate(h.Since)
	if h.Until.IsZero() {
		s += " until released"
	} else {
		s += " until " + FormatDate(h.Until)
	}
	if h.Reason != "" {
		s += ": " + h.Reason
	}
	return s
}

// messageWriter writes messages in one of the machine formats, or as list
// tables.
type messageWriter struct {
	env    *Env
	format string
	csv    *csv.Writer
	buf    []byte // json: the batch being written
}

func newMessageWriter(env *Env, format string) *messageWriter {
	return &messageWriter{env: env, format: format}
}

// CSVHeader is the header row of the CSV format: one row per recipient, the
// message columns repeated on each.
var CSVHeader = []string{"id", "created", "sender", "size", "env_id", "priority",
	"domain", "domain_status", "retry_num", "next_retry", "next_notify", "expires",
	"recipient", "status", "code", "enhanced_code", "message", "orcpt"}

// write writes one batch of messages. Tables get the blank stderr lines
// stalwart-cli prints around them.
func (w *messageWriter) write(msgs []queue.Message) error {
	out := w.env.Stdout
	switch w.format {
	case "json":
		// One write per batch, into a buffer kept across batches.
		buf := w.buf[:0]
		for i := range msgs {
			var err error
			if buf, err = msgs[i].AppendJSON(buf); err != nil {
				return fmt.Errorf("encode message %s: %w", msgs[i].ID, err)
			}
			buf = append(buf, '\n')
		}
		w.buf = buf
		_, err := out.Write(buf)
		return err
	case "ids":
		var b strings.Builder
		for i := range msgs {
			b.WriteString(msgs[i].ID.String())
			b.WriteByte('\n')
		}
		_, err := io.WriteString(out, b.String())
		return err
	case "csv":
		if w.csv == nil {
			w.csv = csv.NewWriter(out)
			if err := w.csv.Write(CSVHeader); err != nil {
				return err
			}
		}
		for i := range msgs {
			for _, rec := range csvRecords(&msgs[i]) {
				if err := w.csv.Write(rec); err != nil {
					return err
				}
			}
		}
		w.csv.Flush()
		return w.csv.Error()
	case "wide":
		if len(msgs) == 0 {
			return nil
		}
		return writeTable(w.env.Stderr, out, ListWideTable(msgs, now(w.env), w.env.Color))
	default:
		if len(msgs) == 0 {
			return nil
		}
		return writeTable(w.env.Stderr, out, ListTable(msgs, w.env.Color))
	}
}

// newCSV starts a CSV stream with its header row.
func newCSV(w io.Writer, header []string) *csv.Writer {
	c := csv.NewWriter(w)
	c.Write(header)
	return c
}

func csvRecords(m *queue.Message) [][]string {
	base := []string{m.ID.String(), rfc3339(m.Created), m.ReturnPath, strconv.FormatInt(m.Size, 10), m.EnvID, strconv.Itoa(m.Priority)}
	var out [][]string
	for _, d := range m.Domains {
		dom := []string{d.Name, d.Status.Short(), strconv.Itoa(d.RetryNum), rfc3339(d.Due), rfc3339(d.NotifyAt), rfc3339(d.Expires)}
		for _, r := range d.Recipients {
			code := ""
			if r.Code != 0 {
				code = strconv.Itoa(r.Code)
			}
			rec := append(append(append([]string{}, base...), dom...), r.Address, r.Status.Short(), code, r.Enhanced, r.Message, r.ORCPT)
			out = append(out, rec)
		}
	}
	if len(out) == 0 {
		out = append(out, append(base, make([]string, len(CSVHeader)-len(base))...))
	}
	return out
}

// SummaryTable renders Summary rows, sizes for people (53.6M), and a TOTAL
// row adding them up (the oldest and newest of all).
func SummaryTable(by string, rows []queue.SummaryRow, color bool) string {
	p := painter{on: color}
	key := strings.ToUpper(by[:1]) + by[1:]
	header := []string{p.bold(key), p.bold("Messages"), p.bold("Size"), p.bold("Oldest"), p.bold("Newest")}
	var out []tableRow
	total := queue.SummaryRow{Key: "TOTAL"}
	for _, r := range rows {
		out = append(out, tableRow{cells: []string{clean(r.Key), strconv.Itoa(r.Count), HumanSize(r.Size), FormatDate(r.Oldest), FormatDate(r.Newest)}})
		total.Count += r.Count
		total.Size += r.Size
		if !r.Oldest.IsZero() && (total.Oldest.IsZero() || r.Oldest.Before(total.Oldest)) {
			total.Oldest = r.Oldest
		}
		if r.Newest.After(total.Newest) {
			total.Newest = r.Newest
		}
	}
	out = append(out, tableRow{cells: []string{p.bold("TOTAL"), strconv.Itoa(total.Count), HumanSize(total.Size), FormatDate(total.Oldest), FormatDate(total.Newest)}})
	return renderTable(out, header)
}

// summaryJSON is one Summary row in JSON Lines.
type summaryJSON struct {
	By     string `json:"by"`
	Key    string `json:"key"`
	Count  int    `json:"count"`
	Size   int64  `json:"size"`
	Oldest string `json:"oldest,omitempty"`
	Newest string `json:"newest,omitempty"`
}

// AuditTable renders audit entries in at most width columns (0 = no limit):
// the widest columns (a long filter first) are wrapped, and cut after a few
// lines.
func AuditTable(entries []queue.AuditEntry, color bool, width int) string {
	p := painter{on: color}
	header := []string{p.bold("Seq"), p.bold("At"), p.bold("User"), p.bold("Source"), p.bold("Verb"), p.bold("Filter"), p.bold("Count"), p.bold("IDs")}
	cells := make([][]string, 0, len(entries))
	for _, e := range entries {
		cells = append(cells, []string{
			strconv.FormatInt(e.Seq, 10), FormatDate(e.At), clean(e.User), clean(e.Source), clean(e.Verb),
			clean(e.Filter), strconv.Itoa(e.Count), shortIDs(e.IDs, 3),
		})
	}
	fitColumns(header, cells, width, 5, 3, 7, 2) // Filter, Source, IDs, User first
	rows := make([]tableRow, len(cells))
	for i, c := range cells {
		rows[i] = tableRow{cells: c}
	}
	return renderTable(rows, header)
}

// Limits of fitColumns.
const (
	offTerminalWidth = 120 // columns a table may take when stdout is not a terminal
	minColumnWidth   = 6   // a column is never narrowed below this (or its header)
	maxCellLines     = 6   // lines a wrapped cell keeps; the last is cut with "…"
)

// tableWidth is how wide a table may be: the terminal's width, or
// offTerminalWidth in a file or pipe.
func tableWidth(env *Env) int {
	if env.Width != nil {
		if w := env.Width(); w > 0 {
			return w
		}
	}
	return offTerminalWidth
}

// fitColumns narrows the widest columns of a prettytable-style table, the
// columns numbered in first (free text) before the others, until the table
// fits in width columns (0 = no limit), and wraps their cells in place; a cell
// wrapped to more than maxCellLines lines is cut, its last line ending in "…".
// A table that cannot fit with every column at its minimum stays wider.
func fitColumns(header []string, rows [][]string, width int, first ...int) {
	n := len(header)
	if width <= 0 || n == 0 {
		return
	}
	natural := make([]int, n)
	least := make([]int, n)
	for i, h := range header {
		natural[i] = text.LongestLineLen(h)
		least[i] = max(minColumnWidth, natural[i])
	}
	for _, r := range rows {
		for i := 0; i < n && i < len(r); i++ {
			natural[i] = max(natural[i], text.LongestLineLen(r[i]))
		}
	}
	widths := slices.Clone(natural)
	excess := 3*n + 1 + sum(widths) - width // borders: "| " + " | " between + " |"
	narrow := func(may func(int) bool) {
		for excess > 0 {
			widest := -1
			for i, w := range widths {
				if may(i) && w > least[i] && (widest < 0 || w > widths[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				return
			}
			// Down to the next widest column (or as far as needed), not below least.
			next := least[widest]
			for i, w := range widths {
				if i != widest && may(i) && w <= widths[widest] {
					next = max(next, w)
				}
			}
			cut := max(1, min(excess, widths[widest]-next)) // columns of equal width take turns
			widths[widest] -= cut
			excess -= cut
		}
	}
	narrow(func(i int) bool { return slices.Contains(first, i) })
	narrow(func(int) bool { return true })
	for i, w := range widths {
		if w >= natural[i] {
			continue
		}
		for _, r := range rows {
			if i < len(r) {
				r[i] = wrapCell(r[i], w)
			}
		}
	}
}

// wrapCell wraps s to lines of at most width columns (breaking at spaces
// where it can), keeping at most maxCellLines of them.
func wrapCell(s string, width int) string {
	if text.LongestLineLen(s) <= width {
		return s
	}
	lines := strings.Split(text.WrapSoft(s, width), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	if len(lines) > maxCellLines {
		lines = lines[:maxCellLines]
		last := []rune(lines[maxCellLines-1])
		lines[maxCellLines-1] = string(last[:min(len(last), width-1)]) + "…"
	}
	return strings.Join(lines, "\n")
}

// shortIDs lists the first n ids and how many more there are.
func shortIDs(ids []queue.ID, n int) string {
	var parts []string
	for i, id := range ids {
		if i == n {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(ids)-n))
			break
		}
		parts = append(parts, id.String())
	}
	return strings.Join(parts, " ")
}

// writeJSONLine writes v as one line of JSON, with <, > and & as they are.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// auditJSON is one audit entry in JSON Lines.
type auditJSON struct {
	Seq    int64    `json:"seq"`
	At     string   `json:"at"`
	User   string   `json:"user"`
	Source string   `json:"source"`
	Verb   string   `json:"verb"`
	Filter string   `json:"filter"`
	Count  int      `json:"count"`
	IDs    []string `json:"ids"`
}

func hexIDs(ids []queue.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// domainBreakdown lists per-domain counts, largest first, aligned.
func domainBreakdown(domains map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var list []kv
	w := 0
	for k, v := range domains {
		list = append(list, kv{k, v})
		w = max(w, len(k))
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].v != list[j].v {
			return list[i].v > list[j].v
		}
		return list[i].k < list[j].k
	})
	var b strings.Builder
	for _, e := range list {
		fmt.Fprintf(&b, "  %-*s  %d\n", w, clean(e.k), e.v)
	}
	return b.String()
}

// writeTable writes a table to stdout with a blank line on stderr before and
// after it, as stalwart-cli frames its tables.
func writeTable(stderr, stdout io.Writer, table string) error {
	fmt.Fprintln(stderr)
	if _, err := io.WriteString(stdout, table); err != nil {
		return err
	}
	fmt.Fprintln(stderr)
	return nil
}

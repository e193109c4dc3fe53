package repl

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"mqsh/lua"
	"mqsh/queue"
)

// ValueSource looks up values in the live queue for completion. Every
// queue.Backend satisfies it through its Suggest verb.
type ValueSource interface {
	Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error)
}

// Default limits of the completer.
const (
	DefaultCompleteLimit   = 50                     // suggestions offered at most
	DefaultCompleteTimeout = 300 * time.Millisecond // a queue lookup gives up after this
)

// Completer offers completions for a line typed at the shell prompt. Everything
// it knows about commands comes from the command table: command and subcommand
// names (with and without the "queue" prefix), the flags of the current command,
// and values by the Kind of the flag or argument being typed. Values come from
// the live queue (message ids, senders, recipients, domains), from the clock
// (time hints), from the script folders and from the file system.
type Completer struct {
	Commands   []*Command
	Values     ValueSource      // nil = no values from the queue
	Now        func() time.Time // for time hints; nil = time.Now
	ScriptDirs []string         // script folders; their scripts and the built-in ones are offered by name
	Limit      int              // suggestions at most; 0 = DefaultCompleteLimit
	Timeout    time.Duration    // per queue lookup; 0 = DefaultCompleteTimeout
	Dir        string           // where relative paths start; "" = the working directory
}

// NewCompleter returns a completer over the command table and the environment
// of a shell: its queue, clock and script folders.
func NewCompleter(cmds []*Command, env *Env) *Completer {
	c := &Completer{Commands: cmds}
	if env != nil {
		c.Values = envValues{env}
		c.Now = env.Now
		c.ScriptDirs = scriptDirs(env)
	}
	return c
}

// envValues looks values up in the queue the environment has open at the
// time of the lookup (none until a command creates the queue file).
type envValues struct{ env *Env }

func (v envValues) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error) {
	if v.env.Queue == nil {
		return nil, nil
	}
	return v.env.Queue.Suggest(ctx, kind, prefix, limit)
}

// timeHints are offered for KindTime, before the current date and time stamp.
var timeHints = []string{"now", "+10m", "+30m", "+1h", "+2h", "+6h", "+1d", "+2d", "+1w", "-1h", "-1d", "-1w"}

// Completion is what the completer offers for the word under the cursor.
type Completion struct {
	// Prefix is the value typed so far, unquoted (for --flag=value, the value).
	Prefix string
	// Typed is how many runes of the line before the cursor Prefix occupies.
	Typed int
	// Items are whole values that start with Prefix (case aside), in order of
	// preference.
	Items []string
	// Quote is the quote left open in the word: '\'', '"' or 0.
	Quote rune
	// NoSpace lists items after which no space is added (directories).
	NoSpace map[string]bool
}

// Complete returns the completion for the text before the cursor.
func (c *Completer) Complete(ctx context.Context, line string) Completion {
	lx := lexLine(line)
	out := Completion{Prefix: lx.cur, Typed: utf8.RuneCountInString(lx.curRaw), Quote: lx.quote}
	if lx.comment {
		return out
	}
	items, noSpace := c.candidates(ctx, lx, &out)
	out.Items = capItems(filterPrefix(items, out.Prefix), c.limit())
	out.NoSpace = noSpace
	return out
}

// Do implements readline.AutoCompleter: it returns the text to insert at the
// cursor for each candidate and how many runes before the cursor they share.
func (c *Completer) Do(line []rune, pos int) ([][]rune, int) {
	if pos > len(line) {
		pos = len(line)
	}
	ctx := context.Background()
	comp := c.Complete(ctx, string(line[:pos]))
	out := make([][]rune, 0, len(comp.Items))
	for _, it := range comp.Items {
		out = append(out, []rune(comp.Insert(it)))
	}
	return out, comp.Typed
}

// Insert is the text the shell inserts at the cursor to turn the typed word into
// item: the rest of the item, quoted like the word, then a closing quote and a
// space unless item is a directory.
func (comp Completion) Insert(item string) string {
	rest := ""
	if r, n := []rune(item), utf8.RuneCountInString(comp.Prefix); n <= len(r) {
		rest = string(r[n:])
	}
	var b strings.Builder
	for i, r := range rest {
		b.WriteString(quoteRune(r, comp.Quote, comp.Prefix == "" && i == 0))
	}
	if comp.NoSpace[item] {
		return b.String()
	}
	if comp.Quote != 0 {
		b.WriteRune(comp.Quote)
	}
	b.WriteByte(' ')
	return b.String()
}

// quoteRune writes r so the command-line parser reads it back inside the given
// quote (0 = none). first says r starts the word (where # opens a comment).
func quoteRune(r rune, quote rune, first bool) string {
	switch quote {
	case '\'':
		if r == '\'' {
			return `'\''`
		}
	case '"':
		if r == '"' || r == '\\' || r == '$' || r == '`' {
			return `\` + string(r)
		}
	default:
		if strings.ContainsRune(" \t\n'\"\\", r) || (first && r == '#') {
			return `\` + string(r)
		}
	}
	return string(r)
}

func (c *Completer) limit() int {
	if c.Limit > 0 {
		return c.Limit
	}
	return DefaultCompleteLimit
}

// candidates works out what the word under the cursor is (a command word, a
// flag, a flag value or an argument) and lists what fits, before filtering by
// prefix. It may narrow out.Prefix and out.Typed (for --flag=value).
func (c *Completer) candidates(ctx context.Context, lx lexed, out *Completion) ([]string, map[string]bool) {
	cmd, rest, next := c.resolve(lx.words)
	if cmd == nil && strings.HasPrefix(lx.cur, "-") {
		// A flag after a command that longer ones extend ("queue rules"
		// before "queue rules rm") is that command's.
		cmd = c.named(lx.words)
	}
	if cmd == nil {
		return next, nil
	}
	st := scanArgs(cmd, rest)
	word := lx.cur
	switch {
	case st.pending != nil:
		return c.flagValues(ctx, st.pending, out, st.args)
	case !st.dashdash && strings.HasPrefix(word, "--") && strings.Contains(word, "="):
		name, val, _ := strings.Cut(word[2:], "=")
		f := findLong(cmd, name)
		if f == nil || f.Value == "" {
			return nil, nil
		}
		_, raw, _ := strings.Cut(lx.curRaw, "=")
		narrow(out, val, raw)
		return c.flagValues(ctx, f, out, st.args)
	case !st.dashdash && len(word) > 2 && word[0] == '-' && word[1] != '-':
		// -sVALUE or -s=VALUE: the value of a short flag, glued to it.
		f := findShort(cmd, word[1:2])
		if f == nil || f.Value == "" {
			return nil, nil
		}
		val := strings.TrimPrefix(word[2:], "=")
		raw := strings.TrimPrefix(lx.curRaw[min(2, len(lx.curRaw)):], "=")
		narrow(out, val, raw)
		return c.flagValues(ctx, f, out, st.args)
	case !st.dashdash && strings.HasPrefix(word, "-"):
		return flagNames(cmd), nil
	}
	kind := argKind(cmd, len(st.args))
	items, ns := c.values(ctx, kind, out, st.args)
	if len(items) == 0 && word == "" && !st.dashdash {
		return flagNames(cmd), nil
	}
	return items, ns
}

// narrow makes the completion cover only the value part of a word: val is the
// value unquoted, raw as typed.
func narrow(out *Completion, val, raw string) {
	out.Prefix = val
	out.Typed = utf8.RuneCountInString(raw)
}

// resolve finds the command named by the first words of the line. It returns
// the command and the words after its name; or, while the name is still being
// typed, nil and the words that may come next.
func (c *Completer) resolve(words []string) (*Command, []string, []string) {
	var best *Command
	bestLen := -1
	var next []string
	seen := map[string]bool{}
	for _, cmd := range c.Commands {
		for _, alias := range cmd.names() {
			if len(alias) <= len(words) && slices.Equal(alias, words[:len(alias)]) {
				if len(alias) > bestLen {
					best, bestLen = cmd, len(alias)
				}
			}
			if len(alias) > len(words) && slices.Equal(alias[:len(words)], words) {
				w := alias[len(words)]
				if !seen[w] {
					seen[w] = true
					next = append(next, w)
				}
			}
		}
	}
	// A longer command name still being typed wins over a shorter one that is
	// complete ("queue" followed by a subcommand).
	if best != nil && (len(next) == 0 || bestLen < len(words)) {
		return best, words[bestLen:], nil
	}
	sort.Strings(next)
	return nil, nil, next
}

// named returns the command whose name is exactly words, nil when none is.
func (c *Completer) named(words []string) *Command {
	for _, cmd := range c.Commands {
		for _, alias := range cmd.names() {
			if slices.Equal(alias, words) {
				return cmd
			}
		}
	}
	return nil
}

// argState is what the words after a command name say about the next word.
type argState struct {
	args     []string // positional arguments so far
	pending  *Flag    // the flag whose value comes next
	dashdash bool     // "--" seen: only arguments follow
}

// scanArgs reads the words after a command name as the parser would: long flags
// (--name, --name=value), short flags (-s, -s value, -sVALUE, clusters of
// booleans), "--" and positional arguments.
func scanArgs(cmd *Command, words []string) argState {
	var st argState
	for _, w := range words {
		switch {
		case st.pending != nil:
			st.pending = nil
		case st.dashdash || w == "-" || !strings.HasPrefix(w, "-") || looksNegative(cmd, w):
			st.args = append(st.args, w)
		case w == "--":
			st.dashdash = true
		case strings.HasPrefix(w, "--"):
			if strings.Contains(w, "=") {
				continue
			}
			if f := findLong(cmd, w[2:]); f != nil && f.Value != "" {
				st.pending = f
			}
		default:
			for i := 1; i < len(w); i++ {
				f := findShort(cmd, w[i:i+1])
				if f != nil && f.Value != "" {
					if i == len(w)-1 {
						st.pending = f
					}
					break
				}
			}
		}
	}
	return st
}

func findLong(cmd *Command, name string) *Flag {
	for i := range cmd.Flags {
		if cmd.Flags[i].Long == name {
			return &cmd.Flags[i]
		}
	}
	return nil
}

func findShort(cmd *Command, name string) *Flag {
	for i := range cmd.Flags {
		if cmd.Flags[i].Short != "" && cmd.Flags[i].Short == name {
			return &cmd.Flags[i]
		}
	}
	return nil
}

// flagNames lists the flags of cmd that help shows, each long form followed by
// its short form, and --help/-h, which the parser adds to every command.
func flagNames(cmd *Command) []string {
	var out []string
	flags := cmd.Flags
	if findLong(cmd, "help") == nil {
		flags = append(flags[:len(flags):len(flags)], Flag{Long: "help", Short: "h"})
	}
	for _, f := range flags {
		if f.Long != "" {
			out = append(out, "--"+f.Long)
		}
		if f.Short != "" {
			out = append(out, "-"+f.Short)
		}
	}
	return out
}

// argKind is the kind of the n-th positional argument (0-based).
func argKind(cmd *Command, n int) Kind {
	for i, a := range cmd.Args {
		if i == n || (a.Repeat && i == len(cmd.Args)-1 && n >= i) {
			return a.Kind
		}
	}
	return KindNone
}

// flagValues lists the values of a flag: its declared Values, or those of its kind.
func (c *Completer) flagValues(ctx context.Context, f *Flag, out *Completion, args []string) ([]string, map[string]bool) {
	if len(f.Values) > 0 {
		return f.Values, nil
	}
	return c.values(ctx, f.Kind, out, args)
}

// values lists the values of one kind. args are the positional arguments typed
// so far (for KindCommand, the words of the command named so far).
func (c *Completer) values(ctx context.Context, kind Kind, out *Completion, args []string) ([]string, map[string]bool) {
	prefix := out.Prefix
	switch kind {
	case KindID:
		if !isHex(prefix) {
			return nil, nil
		}
		return c.suggest(ctx, queue.SuggestID, prefix), nil
	case KindSender:
		items := c.suggest(ctx, queue.SuggestSender, prefix)
		for i, s := range items {
			if s == "" {
				items[i] = "<>"
			}
		}
		if strings.HasPrefix("<>", prefix) && !slices.Contains(items, "<>") {
			items = append([]string{"<>"}, items...)
		}
		return items, nil
	case KindRecipient:
		if dom, ok := strings.CutPrefix(prefix, "@"); ok {
			var items []string
			for _, d := range c.suggest(ctx, queue.SuggestDomain, dom) {
				items = append(items, "@"+d)
			}
			return items, nil
		}
		var items []string
		if !strings.Contains(prefix, "@") {
			items = c.suggest(ctx, queue.SuggestDomain, prefix)
		}
		return append(items, c.suggest(ctx, queue.SuggestRecipient, prefix)...), nil
	case KindDomain:
		return c.suggest(ctx, queue.SuggestDomain, prefix), nil
	case KindTime:
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		t := now().UTC()
		return append(append([]string{}, timeHints...), t.Format("2006-01-02"), t.Truncate(time.Second).Format(time.RFC3339)), nil
	case KindScript:
		// Scripts by name, and .lua files here; folders once the word looks
		// like a path or nothing else fits.
		isLua := func(name string) bool { return strings.HasSuffix(name, ".lua") }
		if strings.ContainsAny(prefix, "/~") || strings.HasPrefix(prefix, ".") {
			return c.paths(prefix, isLua)
		}
		items := filterPrefix(lua.Names(c.ScriptDirs), prefix)
		files, noSpace := c.paths(prefix, isLua)
		for _, f := range files {
			if !noSpace[f] {
				items = append(items, f)
			}
		}
		if len(items) == 0 {
			return files, noSpace
		}
		return items, nil
	case KindFile:
		return c.paths(prefix, nil)
	case KindCommand:
		_, _, next := c.resolve(args)
		return next, nil
	}
	return nil, nil
}

// suggest asks the queue, under a deadline; a failed lookup offers nothing.
func (c *Completer) suggest(ctx context.Context, kind, prefix string) []string {
	if c.Values == nil {
		return nil
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCompleteTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	items, err := c.Values.Suggest(ctx, kind, prefix, c.limit())
	if err != nil {
		return nil
	}
	return items
}

// paths lists the file system entries that complete prefix, as typed (a
// leading ~/ stays). Directories end in "/" and get no space after them. keep,
// when set, chooses the files to offer; directories are always offered.
func (c *Completer) paths(prefix string, keep func(name string) bool) ([]string, map[string]bool) {
	dirPart, base := "", prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirPart, base = prefix[:i+1], prefix[i+1:]
	}
	dir := dirPart
	if dir == "~/" || strings.HasPrefix(dir, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, dir[2:])
		}
	}
	if dir == "" {
		dir = "."
	}
	if !filepath.IsAbs(dir) && c.Dir != "" {
		dir = filepath.Join(c.Dir, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	var out []string
	noSpace := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.IsDir() {
				isDir = true
			}
		}
		if isDir {
			p := dirPart + name + "/"
			out = append(out, p)
			noSpace[p] = true
			continue
		}
		if keep == nil || keep(name) {
			out = append(out, dirPart+name)
		}
	}
	sort.Strings(out)
	return out, noSpace
}

// filterPrefix keeps the items that start with prefix, ignoring case, without
// repeats, in their order.
func filterPrefix(items []string, prefix string) []string {
	out := items[:0:0]
	seen := map[string]bool{}
	n := utf8.RuneCountInString(prefix)
	for _, it := range items {
		r := []rune(it)
		if len(r) < n || !strings.EqualFold(string(r[:n]), prefix) || seen[it] {
			continue
		}
		seen[it] = true
		out = append(out, it)
	}
	return out
}

func capItems(items []string, n int) []string {
	if len(items) > n {
		return items[:n]
	}
	return items
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// lexed is a line split into words the way the command-line parser splits it
// (the one scanner of words.go), up to the cursor.
type lexed struct {
	words   []string // complete words, unquoted
	cur     string   // the word under the cursor, unquoted
	curRaw  string   // the same word as typed
	quote   rune     // the quote left open in it, or 0
	comment bool     // the cursor is in a comment
}

// lexLine splits the text before the cursor into the whole words and the word
// being typed: the last word, when no blank follows it.
func lexLine(text string) lexed {
	var lx lexed
	s := wordScanner{line: text}
	for {
		t, ok := s.next()
		if !ok {
			break
		}
		if t.open != 0 || t.end == len(text) {
			lx.cur, lx.curRaw = t.text, text[t.start:]
			if t.open == '\'' || t.open == '"' {
				lx.quote = rune(t.open)
			}
			break
		}
		lx.words = append(lx.words, t.text)
	}
	lx.comment = s.comment
	return lx
}

package repl

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Lookup finds the command named by the first words, accepting the queue
// commands with or without their "queue" prefix ("queue list" and "list"). It
// returns the command and how many words its name took, or nil and 0.
func Lookup(cmds []*Command, words []string) (*Command, int) {
	var best *Command
	n := 0
	for _, c := range cmds {
		for _, name := range c.names() {
			if len(name) > n && hasPrefix(words, name) {
				best, n = c, len(name)
			}
		}
	}
	return best, n
}

// names returns the ways to call c: its path and, for a queue subcommand, the
// path without "queue".
func (c *Command) names() [][]string {
	if len(c.Path) > 1 && c.Path[0] == "queue" {
		return [][]string{c.Path, c.Path[1:]}
	}
	return [][]string{c.Path}
}

func hasPrefix(words, prefix []string) bool {
	if len(words) < len(prefix) {
		return false
	}
	for i := range prefix {
		if words[i] != prefix[i] {
			return false
		}
	}
	return true
}

// Parse reads one command line, given as words, against the command table.
// It returns nil and no error for an empty line. A request for help is an
// Invocation with Set["help"] = "true".
func Parse(words []string) (*Invocation, error) {
	return parseWith(Commands(), words)
}

func parseWith(cmds []*Command, words []string) (*Invocation, error) {
	if len(words) == 0 {
		return nil, nil
	}
	cmd, n := Lookup(cmds, words)
	if cmd == nil && words[0] == "shell" {
		// `mqsh shell` is an option of the command line, not a command.
		return nil, Usagef("the shell cannot be opened from inside a batch or the shell itself: run 'mqsh shell' on a terminal")
	}
	if cmd == nil {
		msg := fmt.Sprintf("unknown command '%s'", words[0])
		if s := closest(words[0], commandWords(cmds)); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return nil, &UsageError{Msg: msg, Usage: "Usage: mqsh [OPTIONS] [COMMAND]...\n\nFor more information, try 'mqsh help'.", Help: []string{}}
	}
	if cmd.isGroup() && n < len(words) && words[n] != "help" && !strings.HasPrefix(words[n], "-") {
		return nil, unknownSubcommand(cmds, cmd, words[n])
	}
	inv := &Invocation{Cmd: cmd}
	args, restore := protectNegatives(cmd, words[n:])
	set, lists, rest, err := ParseFlags(cmd.Flags, args, true)
	if err != nil {
		return nil, usageFor(cmd, err.Error()+dashDashHint(cmd, err))
	}
	restore(set, lists, rest)
	inv.Set, inv.Lists, inv.Args = set, lists, rest
	if set["help"] == "true" {
		return inv, nil
	}
	if err := checkArgs(cmd, rest); err != nil {
		return nil, err
	}
	return inv, nil
}

// protectNegatives hides from the flag parser the words before "--" that look
// like negative numbers or durations (-2h, -1, -.5): no command has a digit
// for a short flag, so `run reschedule-domain example.org -2h` passes -2h to
// the script, and `list -a -1h` still gives -1h to -a. restore puts them back
// in the parsed flags and arguments.
func protectNegatives(cmd *Command, words []string) (out []string, restore func(map[string]string, map[string][]string, []string)) {
	hidden := map[string]string{}
	out = words
	for i, w := range words {
		if w == "--" {
			break
		}
		if !looksNegative(cmd, w) {
			continue
		}
		if len(hidden) == 0 {
			out = slices.Clone(words)
		}
		key := fmt.Sprintf("\x00mqsh-negative-%d", i)
		hidden[key] = w
		out[i] = key
	}
	back := func(v string) string {
		if w, ok := hidden[v]; ok {
			return w
		}
		return v
	}
	return out, func(set map[string]string, lists map[string][]string, rest []string) {
		if len(hidden) == 0 {
			return
		}
		for k, v := range set {
			set[k] = back(v)
		}
		for _, vs := range lists {
			for i, v := range vs {
				vs[i] = back(v)
			}
		}
		for i, v := range rest {
			rest[i] = back(v)
		}
	}
}

// looksNegative reports whether w is a negative number or duration (-2h, -1,
// -.5) rather than a flag of cmd.
func looksNegative(cmd *Command, w string) bool {
	return len(w) >= 2 && w[0] == '-' &&
		(w[1] >= '0' && w[1] <= '9' || w[1] == '.' && len(w) > 2 && w[2] >= '0' && w[2] <= '9') &&
		findShort(cmd, w[1:2]) == nil
}

// dashDashHint adds to an unknown-flag error of a command with free
// arguments (run's ARGS, lua's CODE) where such words go: after "--".
func dashDashHint(cmd *Command, err error) string {
	if len(cmd.Args) == 0 || !strings.HasPrefix(err.Error(), "unknown flag") {
		return ""
	}
	last := cmd.Args[len(cmd.Args)-1]
	if !last.Repeat || last.Kind != KindText {
		return ""
	}
	words := []string{cmd.Name()}
	for _, a := range cmd.Args[:len(cmd.Args)-1] {
		words = append(words, a.Name)
	}
	words = append(words, "--", last.Name+"...")
	return "; an argument that starts with '-' goes after '--': " + strings.Join(words, " ")
}

// Value returns a flag's value as given, or else its declared Default ("" for
// none): the default is stated once, in the table, for help and for use.
func (inv *Invocation) Value(name string) string {
	if v, ok := inv.Set[name]; ok {
		return v
	}
	for _, f := range inv.Cmd.Flags {
		if f.Long == name {
			return f.Default
		}
	}
	return ""
}

// isGroup reports whether c only groups subcommands ("queue").
func (c *Command) isGroup() bool { return len(c.Path) == 1 && c.Path[0] == "queue" }

// subcommands returns the commands under the group g, in table order.
func subcommands(cmds []*Command, g *Command) []*Command {
	var out []*Command
	for _, c := range cmds {
		if len(c.Path) == len(g.Path)+1 && hasPrefix(c.Path, g.Path) {
			out = append(out, c)
		}
	}
	return out
}

func unknownSubcommand(cmds []*Command, g *Command, word string) error {
	var names []string
	for _, c := range subcommands(cmds, g) {
		names = append(names, c.Path[len(c.Path)-1])
	}
	names = append(names, "help")
	msg := fmt.Sprintf("unknown command '%s %s'", g.Name(), word)
	if s := closest(word, names); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s %s'?)", g.Name(), s)
	}
	return usageFor(g, msg)
}

// checkArgs checks the number of positional arguments against the declaration.
func checkArgs(cmd *Command, args []string) error {
	max, repeat := len(cmd.Args), false
	for i, a := range cmd.Args {
		if a.Required && len(args) <= i {
			return usageFor(cmd, fmt.Sprintf("missing argument %s", argSpec(a)))
		}
		if a.Repeat {
			repeat = true
		}
	}
	if !repeat && len(args) > max {
		return usageFor(cmd, fmt.Sprintf("unexpected argument '%s'", args[max]))
	}
	return nil
}

// usageFor turns a message into a UsageError that shows the command's usage.
func usageFor(cmd *Command, msg string) error {
	name := cmd.Name()
	return &UsageError{Msg: msg, Usage: fmt.Sprintf("Usage: %s\n\nFor more information, try 'mqsh %s --help'.",
		usageLine(cmd), name), Help: cmd.Path}
}

// ParseFlags parses args against the declared flags with spf13/pflag (a fresh
// FlagSet each time; -h/--help is added). interspersed lets flags follow
// positional arguments. It returns the flags given (long name -> value, "true"
// for booleans; every value of a Repeat flag in lists) and the positional
// arguments. Errors name the flag and suggest the closest valid one.
func ParseFlags(flags []Flag, args []string, interspersed bool) (set map[string]string, lists map[string][]string, rest []string, err error) {
	fs := pflag.NewFlagSet("mqsh", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SetInterspersed(interspersed)
	hasHelp := false
	for _, f := range flags {
		switch {
		case f.Value == "":
			fs.BoolP(f.Long, f.Short, false, f.Help)
		case f.Repeat:
			fs.StringArrayP(f.Long, f.Short, nil, f.Help)
		default:
			fs.VarP(new(onceValue), f.Long, f.Short, f.Help)
		}
		if f.Long == "help" {
			hasHelp = true
		}
	}
	if !hasHelp {
		fs.BoolP("help", "h", false, "Print help")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, nil, flagError(err, flags)
	}
	set = map[string]string{}
	lists = map[string][]string{}
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			lists[f.Name] = sv.GetSlice()
			if vals := sv.GetSlice(); len(vals) > 0 {
				set[f.Name] = vals[len(vals)-1]
			}
			return
		}
		set[f.Name] = f.Value.String()
	})
	for _, f := range flags {
		if err := checkValues(f, set[f.Long], lists[f.Long]); err != nil {
			return nil, nil, nil, err
		}
	}
	return set, lists, fs.Args(), nil
}

// onceValue is the value of a flag that takes one value: given twice, it is
// refused rather than letting the last one win (`--before 1h --before 2h`
// would otherwise select by the second alone). Filter flags of several
// values (-s a -s b: either) are Repeat flags instead.
type onceValue struct {
	v   string
	set bool
}

func (o *onceValue) String() string { return o.v }
func (o *onceValue) Type() string   { return "string" }
func (o *onceValue) Set(v string) error {
	if o.set {
		return &givenTwice{first: o.v, then: v}
	}
	o.v, o.set = v, true
	return nil
}

// givenTwice is the error of a onceValue set a second time.
type givenTwice struct{ first, then string }

func (e *givenTwice) Error() string {
	return fmt.Sprintf("given more than once ('%s', then '%s'): it takes one value", e.first, e.then)
}

// checkValues refuses a value outside f.Values. Comma-separated lists (--status
// tempfail,permfail) are checked word by word; case does not matter.
func checkValues(f Flag, last string, all []string) error {
	if len(f.Values) == 0 || (last == "" && len(all) == 0) {
		return nil
	}
	if len(all) == 0 {
		all = []string{last}
	}
	for _, v := range all {
		for _, w := range strings.Split(v, ",") {
			if !slices.Contains(f.Values, strings.ToLower(strings.TrimSpace(w))) {
				return fmt.Errorf("invalid value '%s' for '--%s <%s>': want %s", v, f.Long, f.Value, orList(f.Values))
			}
		}
	}
	return nil
}

// flagError rewords pflag's errors and adds the closest valid flag.
func flagError(err error, flags []Flag) error {
	var ne *pflag.NotExistError
	var vr *pflag.ValueRequiredError
	var bad *pflag.InvalidValueError
	var syn *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &ne):
		name := ne.GetSpecifiedName()
		if ne.GetSpecifiedShortnames() != "" {
			return errors.New(withSuggestion(fmt.Sprintf("unknown flag '-%s'", name[:1]), "", nil))
		}
		var longs []string
		for _, f := range flags {
			longs = append(longs, f.Long)
		}
		longs = append(longs, "help")
		return errors.New(withSuggestion(fmt.Sprintf("unknown flag '--%s'", name), name, longs))
	case errors.As(err, &vr):
		f := vr.GetFlag()
		value := ""
		for _, d := range flags {
			if d.Long == f.Name {
				value = " <" + d.Value + ">"
			}
		}
		return fmt.Errorf("flag '--%s%s' needs a value", f.Name, value)
	case errors.As(err, &bad):
		var twice *givenTwice
		if errors.As(err, &twice) {
			return fmt.Errorf("'--%s' %v", bad.GetFlag().Name, twice)
		}
		return fmt.Errorf("invalid value '%s' for '--%s'", bad.GetValue(), bad.GetFlag().Name)
	case errors.As(err, &syn):
		return fmt.Errorf("bad flag syntax '%s'", syn.GetSpecifiedFlag())
	}
	return err
}

func withSuggestion(msg, word string, candidates []string) string {
	if s := closest(word, candidates); s != "" {
		msg += fmt.Sprintf(" (did you mean '--%s'?)", s)
	}
	return msg
}

// commandWords lists every word that can start a command line.
func commandWords(cmds []*Command) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cmds {
		for _, name := range c.names() {
			w := strings.Join(name, " ")
			if len(name) == len(c.Path) {
				w = name[0]
			}
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	sort.Strings(out)
	return out
}

// closest returns the candidate nearest to word (a prefix of it, or within a
// small edit distance), or "" when none is near enough.
func closest(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if strings.HasPrefix(c, word) && len(word) >= 2 {
			d = 1
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	if bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (adjacent swaps count one).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

package repl

import (
	"context"
	"fmt"
	"strings"
)

// Help texts follow clap's layout, as stalwart-cli prints them: the summary,
// a Usage line, then Arguments, Commands and Options sections.

// argSpec is how an argument shows in usage: <IDS>... required, [IDS]... optional.
func argSpec(a Arg) string {
	s := "[" + a.Name + "]"
	if a.Required {
		s = "<" + a.Name + ">"
	}
	if a.Repeat {
		s += "..."
	}
	return s
}

// usageLine is the text after "Usage: " for a command.
func usageLine(c *Command) string {
	parts := []string{"mqsh " + c.Name()}
	if c.isGroup() {
		return parts[0] + " <COMMAND>"
	}
	if len(c.Flags) > 0 {
		parts = append(parts, "[OPTIONS]")
	}
	for _, a := range c.Args {
		parts = append(parts, argSpec(a))
	}
	return strings.Join(parts, " ")
}

// CommandHelp is the --help text of a command, ending in a newline.
func CommandHelp(c *Command) string {
	if c.isGroup() {
		return GroupHelp(Commands(), c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage: %s\n", c.Summary, usageLine(c))
	if len(c.Args) > 0 {
		b.WriteString("\nArguments:\n")
		rows := make([][2]string, len(c.Args))
		for i, a := range c.Args {
			rows[i] = [2]string{argSpec(a), a.Help}
		}
		b.WriteString(twoColumns(rows))
	}
	b.WriteString("\nOptions:\n")
	b.WriteString(FormatOptions(c.Flags))
	return b.String()
}

// GroupHelp is the help of a group of commands ("queue"), as clap prints it.
func GroupHelp(cmds []*Command, g *Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage: %s\n\nCommands:\n", g.Summary, usageLine(g))
	var rows [][2]string
	for _, c := range subcommands(cmds, g) {
		rows = append(rows, [2]string{c.Path[len(c.Path)-1], c.Summary})
	}
	rows = append(rows, [2]string{"help", helpCommand().Summary})
	b.WriteString(twoColumns(rows))
	return b.String()
}

// FormatOptions renders an Options section body: the flags in table order,
// then -h, --help and -V, --version, as clap orders them.
func FormatOptions(flags []Flag) string {
	var rows [][2]string
	var version *Flag
	for i, f := range flags {
		switch {
		case f.Long == "help":
		case f.Long == "version":
			version = &flags[i]
		default:
			rows = append(rows, [2]string{flagSpec(f), flagHelp(f)})
		}
	}
	rows = append(rows, [2]string{"-h, --help", "Print help"})
	if version != nil {
		rows = append(rows, [2]string{flagSpec(*version), flagHelp(*version)})
	}
	return twoColumns(rows)
}

func flagSpec(f Flag) string {
	s := "    --" + f.Long
	if f.Short != "" {
		s = "-" + f.Short + ", --" + f.Long
	}
	if f.Value != "" {
		s += " <" + f.Value + ">"
	}
	return s
}

func flagHelp(f Flag) string {
	h := f.Help
	if f.Default != "" {
		h += " [default: " + f.Default + "]"
	}
	return h
}

// twoColumns lays rows out as clap does: two spaces, the first column padded
// to the widest, two spaces, the second.
func twoColumns(rows [][2]string) string {
	w := 0
	for _, r := range rows {
		w = max(w, len(r[0]))
	}
	var b strings.Builder
	for _, r := range rows {
		if r[1] == "" {
			fmt.Fprintf(&b, "  %s\n", r[0])
			continue
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", w, r[0], r[1])
	}
	return b.String()
}

// Overview lists the commands: in the shell every command by the name typed
// there (queue subcommands without "queue"); on the command line the first
// words (queue, run, ...) with extra lists the caller adds (shell).
func Overview(interactive bool, extra ...[2]string) string {
	cmds := Commands()
	var rows [][2]string
	seen := map[string]bool{}
	for _, c := range cmds {
		if c.Path[0] == "help" {
			continue
		}
		if interactive {
			if c.isGroup() {
				continue
			}
			name := c.names()[len(c.names())-1]
			rows = append(rows, [2]string{strings.Join(name, " "), c.Summary})
			continue
		}
		if c.ShellOnly || seen[c.Path[0]] {
			continue
		}
		seen[c.Path[0]] = true
		summary := c.Summary
		if len(c.Path) > 1 {
			summary = ""
			for _, g := range cmds {
				if len(g.Path) == 1 && g.Path[0] == c.Path[0] {
					summary = g.Summary
				}
			}
		}
		rows = append(rows, [2]string{c.Path[0], summary})
	}
	rows = append(rows, extra...)
	rows = append(rows, [2]string{"help", helpCommand().Summary})
	return "Commands:\n" + twoColumns(rows)
}

// runHelp prints the overview, or the help of the named command.
func runHelp(ctx context.Context, env *Env, inv *Invocation) error {
	if len(inv.Args) == 0 {
		text := Overview(env.Interactive)
		if env.Interactive {
			text += "\nQueue commands also work with a \"queue\" prefix. Type 'help COMMAND' or 'COMMAND --help' for details.\n"
		} else {
			text += "\nType 'mqsh help COMMAND' or 'mqsh COMMAND --help' for details.\n"
		}
		_, err := fmt.Fprint(env.Stdout, text)
		return err
	}
	cmds := Commands()
	c, n := Lookup(cmds, inv.Args)
	if c == nil {
		msg := fmt.Sprintf("no help for unknown command '%s'", strings.Join(inv.Args, " "))
		if s := closest(inv.Args[0], commandWords(cmds)); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return &UsageError{Msg: msg}
	}
	if c.isGroup() && n < len(inv.Args) {
		if inv.Args[n] == "help" {
			c = helpCommand()
		} else {
			return unknownSubcommand(cmds, c, inv.Args[n])
		}
	}
	_, err := fmt.Fprint(env.Stdout, CommandHelp(c))
	return err
}

// runQueueGroup serves "queue" alone (its help on stderr and a usage error, as
// clap does) and "queue help [COMMAND]".
func runQueueGroup(ctx context.Context, env *Env, inv *Invocation) error {
	if len(inv.Args) > 0 && inv.Args[0] == "help" {
		rest := append([]string{"queue"}, inv.Args[1:]...)
		if len(inv.Args) == 1 {
			rest = []string{"queue"}
		}
		return runHelp(ctx, env, &Invocation{Cmd: helpCommand(), Args: rest})
	}
	fmt.Fprint(env.Stderr, CommandHelp(inv.Cmd))
	return &reportedError{err: &UsageError{Msg: "queue: missing command"}}
}

// MarkdownReference renders the command reference of the README from the
// table: each command with its usage, arguments and options.
func MarkdownReference() string {
	var b strings.Builder
	for _, c := range Commands() {
		if c.isGroup() {
			continue
		}
		fmt.Fprintf(&b, "### `%s`\n\n%s.", c.Name(), c.Summary)
		if c.ShellOnly {
			b.WriteString(" (Shell only.)")
		}
		fmt.Fprintf(&b, "\n\n    %s\n\n", usageLine(c))
		var rows [][2]string
		for _, a := range c.Args {
			rows = append(rows, [2]string{argSpec(a), a.Help})
		}
		for _, f := range c.Flags {
			rows = append(rows, [2]string{flagSpec(f), flagHelp(f)})
		}
		if len(rows) == 0 {
			continue
		}
		b.WriteString("| Argument or option | Meaning |\n|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| `%s` | %s |\n", strings.TrimSpace(r[0]), strings.ReplaceAll(r[1], "|", `\|`))
		}
		b.WriteString("\n")
	}
	return b.String()
}

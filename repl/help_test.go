package repl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpGolden(t *testing.T) {
	c := newCLI(t, 0)
	for _, cmd := range Commands() {
		name := "help-" + strings.Join(cmd.Path, "-") + ".txt"
		t.Run(name, func(t *testing.T) {
			c.mustRun(t, cmd.Name()+" --help")
			golden(t, name, c.stdout.String())
			// help COMMAND prints the same text.
			help := c.stdout.String()
			c.mustRun(t, "help "+cmd.Name())
			if c.stdout.String() != help {
				t.Errorf("help %s differs from %s --help", cmd.Name(), cmd.Name())
			}
		})
	}
	c.mustRun(t, "help")
	golden(t, "help-overview.txt", c.stdout.String())
	c.env.Interactive = true
	c.mustRun(t, "help")
	golden(t, "help-overview-shell.txt", c.stdout.String())
}

// referenceHelp returns the reference's help text for a stalwart-cli command
// line, with mqsh in place of stalwart-cli.
func referenceHelp(t *testing.T, command string) []string {
	t.Helper()
	text := referenceOutput(t, "$ stalwart-cli "+command)
	if i := strings.Index(text, "\n$ "); i >= 0 {
		text = text[:i]
	}
	text = strings.ReplaceAll(text, "stalwart-cli --url <URL>", "mqsh")
	text = strings.ReplaceAll(text, "stalwart-cli", "mqsh")
	return strings.Split(strings.TrimRight(text, "\n"), "\n")
}

// inOrder reports the first line of want that is not found, in order, among
// got; norm is applied to both.
func inOrder(got, want []string, norm func(string) string) (missing string, ok bool) {
	i := 0
	for _, w := range want {
		for i < len(got) && norm(got[i]) != norm(w) {
			i++
		}
		if i == len(got) {
			return w, false
		}
		i++
	}
	return "", true
}

func TestHelpMatchesReference(t *testing.T) {
	c := newCLI(t, 0)
	spaces := func(s string) string { return strings.Join(strings.Fields(s), " ") }

	// queue list keeps the documented layout to the space: its extra flags
	// fit the documented column. It also takes ids, as every command does.
	c.mustRun(t, "queue list --help")
	withIDs := func(s string) string { return strings.TrimSuffix(s, " [IDS]...") }
	if missing, ok := inOrder(strings.Split(c.stdout.String(), "\n"), referenceHelp(t, "queue list --help"), withIDs); !ok {
		t.Errorf("queue list --help lacks the documented line %q:\n%s", missing, c.stdout.String())
	}
	// retry and cancel have the documented lines in order; their extra flags
	// widen the option column, and their argument is described where
	// stalwart-cli shows the bare name ("[IDS]...").
	argName := func(s string) string {
		s = spaces(s)
		if strings.HasPrefix(s, "[") || strings.HasPrefix(s, "<") {
			s, _, _ = strings.Cut(s, " ")
		}
		return s
	}
	for _, cmd := range []string{"queue retry --help", "queue cancel --help"} {
		c.mustRun(t, cmd)
		if missing, ok := inOrder(strings.Split(c.stdout.String(), "\n"), referenceHelp(t, cmd), argName); !ok {
			t.Errorf("%s lacks the documented line %q:\n%s", cmd, missing, c.stdout.String())
		}
	}
	// "queue" alone prints the group help on stderr and is a usage error, as clap does.
	err := c.run(t, "queue")
	if ExitCode(err) != 2 || c.stdout.Len() != 0 {
		t.Errorf("queue alone: exit %d, stdout %q", ExitCode(err), c.stdout.String())
	}
	if missing, ok := inOrder(strings.Split(c.stderr.String(), "\n"), referenceHelp(t, "queue"), spaces); !ok {
		t.Errorf("queue help lacks the documented line %q:\n%s", missing, c.stderr.String())
	}
}

func TestHelpErrors(t *testing.T) {
	c := newCLI(t, 0)
	err := c.run(t, "help lst")
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "did you mean 'list'?") {
		t.Errorf("help lst: %v", err)
	}
	err = c.run(t, "help queue lisst")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "did you mean 'queue list'?") {
		t.Errorf("help queue lisst: %v", err)
	}
	c.mustRun(t, "queue help list")
	if !strings.HasPrefix(c.stdout.String(), "Shows messages queued for delivery\n\nUsage: mqsh queue list [OPTIONS] [IDS]...\n") {
		t.Errorf("queue help list:\n%s", c.stdout.String())
	}
	c.mustRun(t, "queue help")
	if !strings.Contains(c.stdout.String(), "Usage: mqsh queue <COMMAND>") {
		t.Errorf("queue help:\n%s", c.stdout.String())
	}
	if err := Run(context.Background(), c.env, []string{"queue", "--help"}); err != nil || !strings.Contains(c.stdout.String(), "Commands:") {
		t.Errorf("queue --help: %v", err)
	}
}

func TestMarkdownReference(t *testing.T) {
	ref := MarkdownReference()
	for _, c := range Commands() {
		if !c.isGroup() && !strings.Contains(ref, "### `"+c.Name()+"`") {
			t.Errorf("the reference lacks %s", c.Name())
		}
	}
	// The README's command reference is this text, between two markers.
	const begin, end = "<!-- commands:begin -->\n", "<!-- commands:end -->"
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok1 := strings.Cut(string(readme), begin)
	_, tail, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the markers %q and %q around the command reference", begin, end)
	}
	want := head + begin + ref + end + tail
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(readme) != want {
		t.Errorf("README.md's command reference differs from the command table (go test ./repl -update rewrites it)")
	}
}

// Every argument has a description, and --help shows it beside the argument.
func TestHelpDescribesArguments(t *testing.T) {
	for _, c := range Commands() {
		help := CommandHelp(c)
		for _, a := range c.Args {
			if c.isGroup() {
				continue
			}
			if a.Help == "" {
				t.Errorf("%s: argument %s has no description", c.Name(), a.Name)
				continue
			}
			if !strings.Contains(help, "\n  "+argSpec(a)+"  ") || !strings.Contains(help, a.Help) {
				t.Errorf("%s --help does not describe %s:\n%s", c.Name(), argSpec(a), help)
			}
		}
	}
}

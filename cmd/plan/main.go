// Command plan reviews and runs Nonstop rollout plans: HCL files that declare
// how to drain, deploy, health-check and restore Docker services behind
// nginx without dropping a request.
//
//	plan validate plans/rolling-update.hcl
//	plan show -format markdown plans/rolling-update.hcl
//	plan apply plans/rolling-update.hcl
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/cli"

	"github.com/nonstop-deploy/nonstop/internal/suggest"
	"github.com/nonstop-deploy/nonstop/steps"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own writers.
func run(args []string, stdout, stderr io.Writer) int {
	ui := &cli.BasicUi{Writer: stdout, ErrorWriter: stderr, Reader: os.Stdin}
	m := &meta{ui: ui, stdout: stdout, stderr: stderr, steps: steps.Builtin()}
	cmds := commands(m)
	if os.Getenv("COMP_LINE") == "" { // completing a word prints no errors
		var err error
		if m.log, err = logFromEnv(); err != nil {
			fmt.Fprintf(stderr, "Error: %s (or unset it).\n", err)
			return 1
		}
	}
	if code, handled := unknownCommand(args, cmds, stderr); handled {
		return code
	}
	c := &cli.CLI{
		Name:         "plan",
		Version:      version,
		Args:         args,
		Commands:     cmds,
		HelpFunc:     help,
		HelpWriter:   stdout,
		ErrorWriter:  stderr,
		Autocomplete: true,
		// -autocomplete-install / -autocomplete-uninstall, as Terraform.
		AutocompleteInstall:   "autocomplete-install",
		AutocompleteUninstall: "autocomplete-uninstall",
	}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
	return code
}

// unknownCommand reports a first argument that names no command: the cli
// library would print the usage and exit 127, which reads like success in a
// terminal scroll and names no mistake.
func unknownCommand(args []string, cmds map[string]cli.CommandFactory, stderr io.Writer) (int, bool) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || os.Getenv("COMP_LINE") != "" {
		return 0, false
	}
	if _, ok := cmds[args[0]]; ok {
		return 0, false
	}
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stderr, "Error: %q is not a plan command.%s\nThe commands are: %s. Run \"plan -help\" for what each does.\n",
		args[0], suggest.DidYouMean(args[0], names), strings.Join(names, ", "))
	return 1, true
}

func commands(m *meta) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"validate": func() (cli.Command, error) { return &validateCommand{meta: m}, nil },
		"fmt":      func() (cli.Command, error) { return &fmtCommand{meta: m}, nil },
		"graph":    func() (cli.Command, error) { return &graphCommand{meta: m}, nil },
		"show":     func() (cli.Command, error) { return &showCommand{meta: m}, nil },
		"version":  func() (cli.Command, error) { return &versionCommand{meta: m}, nil },
		"apply":    func() (cli.Command, error) { return &applyCommand{meta: m}, nil },
		"rollback": func() (cli.Command, error) { return &rollbackCommand{meta: m}, nil },
		"status":   func() (cli.Command, error) { return &statusCommand{meta: m}, nil },
		"unlock":   func() (cli.Command, error) { return &unlockCommand{meta: m}, nil },
	}
}

// help is the top-level usage: what the tool is, then the commands in the
// order a user meets them.
func help(cmds map[string]cli.CommandFactory) string {
	order := []string{"validate", "fmt", "show", "graph", "apply", "status", "rollback", "unlock", "version"}
	var names []string
	seen := map[string]bool{}
	for _, n := range order {
		if _, ok := cmds[n]; ok {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range cmds {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	names = append(names, rest...)
	var b strings.Builder
	b.WriteString(`Usage: plan [-version] [-help] <command> [args]

Nonstop rolls Docker services behind nginx to a new version without dropping
a request. A plan (HCL) declares the drain, deploy, health-check and restore
steps; plan reviews it and runs it, rolling back on failure.

Commands:
`)
	for _, n := range names {
		c, err := cmds[n]()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "    %-10s %s\n", n, c.Synopsis())
	}
	b.WriteString(`
Examples:
    plan validate plans/rolling-update.hcl
    plan show -format markdown plans/rolling-update.hcl > review.md
    plan graph -format mermaid plans/rolling-update.hcl
    plan fmt -check plans/

Run "plan <command> -help" for a command's flags and examples.
Shell completion: plan -autocomplete-install
`)
	return b.String()
}

type versionCommand struct{ meta *meta }

// Synopsis implements cli.Command.
func (c *versionCommand) Synopsis() string { return "Print the version" }

// Help implements cli.Command.
func (c *versionCommand) Help() string { return "Usage: plan version\n\n  Prints the version of plan." }

// Run implements cli.Command.
func (c *versionCommand) Run([]string) int {
	fmt.Fprintf(c.meta.stdout, "plan %s\n", version)
	return 0
}

// Command plan reviews and runs Nonstop rollout plans: HCL files that declare
// how to drain, deploy, health-check and restore Docker services behind
// nginx without dropping a request.
//
//	plan validate plans/rolling-update.hcl
//	plan show -format markdown plans/rolling-update.hcl
//	plan apply plans/rolling-update.hcl
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"

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
	args, err := chdir(args)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
	if len(args) > 0 && (args[0] == "-v" || args[0] == "-version" || args[0] == "--version") {
		args = append([]string{"version"}, args[1:]...) // as Terraform: the same output as `plan version`
	}
	if code, handled := unknownCommand(args, cmds, stderr); handled {
		return code
	}
	c := newCLI(args, cmds, stdout, stderr)
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
	return code
}

// newCLI is the command line's parser: help, version, completion.
func newCLI(args []string, cmds map[string]cli.CommandFactory, stdout, stderr io.Writer) *cli.CLI {
	return &cli.CLI{
		Name:         "plan",
		Version:      version,
		Args:         args,
		Commands:     cmds,
		HelpFunc:     help,
		HelpWriter:   stdout,
		ErrorWriter:  stderr,
		Autocomplete: true,
		// Terraform's names for the flags that (un)install completion.
		AutocompleteInstall:   "install-autocomplete",
		AutocompleteUninstall: "uninstall-autocomplete",
	}
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
		"validate":      func() (cli.Command, error) { return &validateCommand{meta: m}, nil },
		"fmt":           func() (cli.Command, error) { return &fmtCommand{meta: m}, nil },
		"graph":         func() (cli.Command, error) { return &graphCommand{meta: m}, nil },
		"show":          func() (cli.Command, error) { return &showCommand{meta: m}, nil },
		"diff":          func() (cli.Command, error) { return &diffCommand{meta: m}, nil },
		"version":       func() (cli.Command, error) { return &versionCommand{meta: m}, nil },
		"apply":         func() (cli.Command, error) { return &applyCommand{meta: m}, nil },
		"rollback":      func() (cli.Command, error) { return &rollbackCommand{meta: m}, nil },
		"status":        func() (cli.Command, error) { return &statusCommand{meta: m}, nil },
		"unlock":        func() (cli.Command, error) { return &unlockCommand{meta: m}, nil },
		"history":       func() (cli.Command, error) { return &historyCommand{meta: m}, nil },
		"nginx-snippet": func() (cli.Command, error) { return &snippetCommand{meta: m}, nil },
	}
}

// help is the top-level usage: what the tool is, then the commands in the
// order a user meets them.
func help(cmds map[string]cli.CommandFactory) string {
	order := []string{"validate", "fmt", "show", "diff", "graph", "apply", "status", "history", "rollback", "unlock", "version"}
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
	b.WriteString(`Usage: plan [-chdir=DIR] [-version] [-help] <command> [args]

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

Global options (before the command):
    -chdir=DIR     Run in folder DIR: every path is relative to it.
    -version       Print the version (as "plan version").
    -help          This help.
    -install-autocomplete    Install shell completion (bash, zsh, fish).
    -uninstall-autocomplete  Remove it.

Run "plan <command> -help" for a command's flags and examples.
Logs: PLAN_LOG=debug|info|warn|error, PLAN_LOG_FORMAT=json (on stderr).
`)
	return b.String()
}

type versionCommand struct {
	meta   *meta
	asJSON bool
}

func (c *versionCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("version", false)
	fs.BoolVar(&c.asJSON, "json", false, "machine-readable output")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *versionCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *versionCommand) AutocompleteArgs() complete.Predictor { return complete.PredictNothing }

// Synopsis implements cli.Command.
func (c *versionCommand) Synopsis() string { return "Print the version" }

// Help implements cli.Command.
func (c *versionCommand) Help() string {
	return commandHelp(c, "", `
  Prints the version of plan, the Go release it was built with and the
  platform it runs on.

Options:
  -json      Print them as JSON, in the shape of "terraform version -json":
             {"plan_version": "0.1.0", "go": "go1.24.1",
              "platform": "linux_amd64"}
  -no-color  No colour or other terminal escapes.

Exit status: 0.

Examples:
  plan version
  plan version -json | jq -r .plan_version
`)
}

// versionJSON is `plan version -json`, after `terraform version -json`
// (terraform_version, platform) with what applies to plan.
type versionJSON struct {
	Version  string `json:"plan_version"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Run implements cli.Command.
func (c *versionCommand) Run(args []string) int {
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.meta.stderr, "Error: plan version takes no arguments; got %q.\n", fs.Args())
		return exitError
	}
	v := versionJSON{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "_" + runtime.GOARCH}
	if c.asJSON {
		enc := json.NewEncoder(c.meta.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return exitOK
	}
	fmt.Fprintf(c.meta.stdout, "plan %s\non %s, built with %s\n", v.Version, v.Platform, v.Go)
	return exitOK
}

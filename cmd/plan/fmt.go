// This file holds `plan fmt`: canonical formatting with hclwrite, -check
// and -diff, written through symlinks and keeping the file's mode.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/dsl"
)

type fmtCommand struct {
	meta                                *meta
	check, diff, list, write, recursive bool
}

func (c *fmtCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("fmt", false)
	fs.BoolVar(&c.check, "check", false, "exit 3 when a file would change")
	fs.BoolVar(&c.diff, "diff", false, "print a diff")
	fs.BoolVar(&c.list, "list", true, "list changed files")
	fs.BoolVar(&c.write, "write", true, "write the result to the file")
	fs.BoolVar(&c.recursive, "recursive", false, "descend into folders")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *fmtCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *fmtCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *fmtCommand) Synopsis() string { return "Rewrite plan files in the canonical format" }

// Help implements cli.Command.
func (c *fmtCommand) Help() string {
	return commandHelp(c, "[PATH ...]", `
  Rewrites plan files (*.hcl) in the canonical HCL style: aligned equals
  signs, two-space indentation, normalized spacing. PATH is a file or a
  folder (default: the current folder); "-" reads standard input and writes
  standard output.

Options:
  -check       Change nothing; exit 3 when a file is not formatted (for CI).
  -diff        Print the changes as a unified diff.
  -list=false  Do not print the names of files that change.
  -write=false Do not write files (implied by -check).
  -recursive   Also format files in sub-folders.
  -no-color    No colour or other terminal escapes.

Exit status: 0; 1 when a file cannot be parsed; 3 with -check when a file
would change.

Examples:
  plan fmt plans/
  plan fmt -check -diff plans/
`)
}

// Run implements cli.Command.
func (c *fmtCommand) Run(args []string) int {
	m := c.meta
	fset := c.flags()
	check, diff, list, write, recursive := &c.check, &c.diff, &c.list, &c.write, &c.recursive
	if err := fset.Parse(args); err != nil {
		return exitError
	}
	if *check {
		*write = false
	}
	paths := fset.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if len(paths) == 1 && paths[0] == "-" {
		src, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintf(m.stderr, "Error: reading standard input: %s\n", err)
			return exitError
		}
		out, diags := formatSource(src, "<stdin>")
		if diags.HasErrors() {
			m.showSourceDiags("<stdin>", src, diags)
			return exitError
		}
		if *check {
			if !bytes.Equal(src, out) {
				return exitChanged
			}
			return exitOK
		}
		_, _ = m.stdout.Write(out)
		return exitOK
	}

	var files []string
	for _, p := range paths {
		found, err := hclFiles(p, *recursive)
		if err != nil {
			fmt.Fprintf(m.stderr, "Error: %s\n", err)
			return exitError
		}
		files = append(files, found...)
	}
	code := exitOK
	for _, f := range files {
		src, err := dsl.ReadSource(f)
		if err != nil {
			fmt.Fprintf(m.stderr, "Error: %s.\n", err)
			code = exitError
			continue
		}
		out, diags := formatSource(src, f)
		if diags.HasErrors() {
			m.showSourceDiags(f, src, diags)
			code = exitError
			continue
		}
		if bytes.Equal(src, out) {
			continue
		}
		if *list {
			fmt.Fprintln(m.stdout, f)
		}
		if *diff {
			d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: difflib.SplitLines(string(src)), B: difflib.SplitLines(string(out)),
				FromFile: "old/" + f, ToFile: "new/" + f, Context: 3,
			})
			fmt.Fprint(m.stdout, d)
		}
		if *write {
			if err := writeKeepMode(f, out); err != nil {
				fmt.Fprintf(m.stderr, "Error: %s\n", err)
				code = exitError
				continue
			}
		}
		if *check && code == exitOK {
			code = exitChanged
		}
	}
	return code
}

// formatSource formats one file. It parses first: hclwrite.Format would
// happily "format" a file with syntax errors into something worse.
func formatSource(src []byte, name string) ([]byte, hcl.Diagnostics) {
	if diags := dsl.CheckSource(src, name); diags.HasErrors() {
		return nil, diags
	}
	if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// hclFiles lists the *.hcl files at path: the file itself, or the files of
// the folder (and its sub-folders with recursive), sorted.
func hclFiles(path string, recursive bool) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".hcl") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// showSourceDiags renders diagnostics about one source that is not part
// of a loaded plan, with its snippets.
func (m *meta) showSourceDiags(name string, src []byte, diags hcl.Diagnostics) {
	m.showDiags(&dsl.Plan{Files: map[string]*hcl.File{name: dsl.SourceFile(src)}}, diags)
}

// writeKeepMode replaces a file's content atomically (temp file + rename),
// keeping its permissions. A symbolic link is written through: the file it
// points to changes, and the link stays a link.
func writeKeepMode(path string, data []byte) error {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fmt-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

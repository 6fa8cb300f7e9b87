// This file holds the conventions every command shares about its flags:
// the usage line built from the command's own flag set (so it can never
// leave one out), shell completion of those flags, -no-color, and the
// global -chdir=DIR, as Terraform's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/posener/complete"
)

// flagged is a command whose flags are one flag set, built the same way
// for Run, for its usage line and for shell completion.
type flagged interface {
	flags() *flag.FlagSet
}

// usage is a command's usage line: every flag of fs, sorted, then args,
// wrapped under "Usage: plan NAME". A boolean that defaults to true shows
// as [-name=false]; another flag shows its placeholder, the back-quoted
// word of its usage string (see flag.UnquoteUsage).
func usage(fs *flag.FlagSet, args string) string {
	var words []string
	fs.VisitAll(func(f *flag.Flag) {
		words = append(words, flagWord(f))
	})
	if args != "" {
		words = append(words, args)
	}
	head := "Usage: plan " + fs.Name()
	indent := strings.Repeat(" ", len(head)+1)
	var b strings.Builder
	b.WriteString(head)
	col := len(head)
	for _, w := range words {
		if col+1+len(w) > 78 && col > len(indent) {
			b.WriteString("\n" + indent[:len(indent)-1])
			col = len(indent) - 1
		}
		b.WriteString(" " + w)
		col += 1 + len(w)
	}
	return b.String()
}

// flagWord is one flag as the usage line shows it.
func flagWord(f *flag.Flag) string {
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		if f.DefValue == "true" {
			return "[-" + f.Name + "=false]"
		}
		return "[-" + f.Name + "]"
	}
	name, _ := flag.UnquoteUsage(f)
	return "[-" + f.Name + " " + name + "]"
}

// commandHelp is a command's help: the usage line from its flags, then the text.
func commandHelp(c flagged, args, text string) string {
	return usage(c.flags(), args) + "\n\n" + strings.Trim(text, "\n")
}

// completeFlags completes every flag of a command: files for the flags
// that take one, nothing for the others.
func completeFlags(c flagged) complete.Flags {
	out := complete.Flags{}
	c.flags().VisitAll(func(f *flag.Flag) {
		p := complete.PredictNothing
		switch f.Name {
		case "var-file":
			p = complete.PredictOr(complete.PredictFiles("*.json"), complete.PredictFiles("*.vars"), complete.PredictFiles("*.tfvars"))
		case "state-dir":
			p = complete.PredictDirs("*")
		case "format":
			name, _ := flag.UnquoteUsage(f)
			p = complete.PredictSet(strings.Split(name, "|")...)
		case "log-level":
			p = complete.PredictSet(sortedLevels()...)
		}
		out["-"+f.Name] = p
	})
	return out
}

func sortedLevels() []string {
	var out []string
	for l := range logLevels {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// planPath completes a command's PATH: a plan file or a folder.
var planPath = complete.PredictOr(complete.PredictFiles("*.hcl"), complete.PredictDirs("*"))

// chdir takes -chdir=DIR from the options before the command, as
// Terraform: every path is then relative to DIR, which must exist. Only
// the form with "=" is accepted, so that "-chdir" never swallows the
// command that follows it. The working directory is the process's; plan
// changes it once, before the command runs.
func chdir(args []string) ([]string, error) {
	const name, prefix = "-chdir", "-chdir="
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			break // options of the command, not of plan
		}
		if strings.HasPrefix(a, "--") { // --chdir too, as Go's flags
			a = a[1:]
		}
		if a == name || a == prefix {
			return args, errors.New("-chdir needs a folder, with an equals sign: -chdir=DIR")
		}
		if dir, ok := strings.CutPrefix(a, prefix); ok {
			if err := os.Chdir(dir); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return args, fmt.Errorf("-chdir=%s: %s", dir, err)
			}
			return append(append([]string{}, args[:i]...), args[i+1:]...), nil
		}
	}
	return args, nil
}

// This file holds `plan validate -format github`: each diagnostic as a
// GitHub Actions workflow command (::error / ::warning), which the runner
// turns into an annotation on the pull request's diff at the diagnostic's
// range.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// writeGitHubDiags prints one workflow command per diagnostic:
//
//	::error file=F,line=L,col=C,endLine=L,endColumn=E,title=SUMMARY::DETAIL
//
// A diagnostic without a range gets only its title. col and endColumn are
// given only when the range is on one line, because GitHub's annotations
// accept columns only there (a multi-line range keeps line and endLine).
// endColumn is inclusive: HCL's end column points past the range. File
// names are made relative to GITHUB_WORKSPACE when they lie under it, since
// an annotation names a file by its path in the repository; workspace is
// that folder ("" keeps the names as the diagnostics give them).
func writeGitHubDiags(w io.Writer, diags hcl.Diagnostics, workspace string) error {
	for _, d := range diags {
		cmd := "error"
		if d.Severity == hcl.DiagWarning {
			cmd = "warning"
		}
		var props []string
		if r := d.Subject; r != nil {
			props = append(props, "file="+ghProperty(repoPath(r.Filename, workspace)),
				"line="+strconv.Itoa(r.Start.Line))
			if r.End.Line == r.Start.Line {
				end := max(r.End.Column-1, r.Start.Column)
				props = append(props, "col="+strconv.Itoa(r.Start.Column),
					"endLine="+strconv.Itoa(r.End.Line), "endColumn="+strconv.Itoa(end))
			} else if r.End.Line > r.Start.Line {
				props = append(props, "endLine="+strconv.Itoa(r.End.Line))
			}
		}
		props = append(props, "title="+ghProperty(d.Summary))
		msg := d.Detail
		if msg == "" {
			msg = d.Summary
		}
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", cmd, strings.Join(props, ","), ghData(msg)); err != nil {
			return err
		}
	}
	return nil
}

// repoPath is name relative to workspace when it lies under it, with
// forward slashes; otherwise name unchanged. A relative name is taken from
// the working directory (after -chdir), as the diagnostics were.
func repoPath(name, workspace string) string {
	if workspace == "" {
		return name
	}
	abs := name
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return name
		}
		abs = filepath.Join(wd, name)
	}
	rel, err := filepath.Rel(workspace, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return name
	}
	return filepath.ToSlash(rel)
}

// ghData escapes a workflow command's message as the Actions toolkit does
// (escapeData): '%', CR and LF, so a multi-line detail stays one command.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a property value as the Actions toolkit does
// (escapeProperty): as ghData, plus ':' and ',' which would end the value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

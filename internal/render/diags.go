// Package render turns plans, graphs and diagnostics into what users read:
// review output for pull requests, graphs, and errors with source snippets.
// It keeps cmd/plan thin and makes every output testable with golden files.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Diagnostics writes diagnostics as HCL renders them: severity and summary,
// the file and line, the source snippet with the offending range marked,
// and the detail.
//
// A snippet line longer than MaxSnippetLine bytes (a generated or hostile
// file: a 200 KB line was once echoed whole) is cut to a window around the
// range, marked with "…" at each cut.
func Diagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	dw := hcl.NewDiagnosticTextWriter(w, files, width, color)
	for _, d := range diags {
		if f, cd, ok := clip(files, d); ok {
			one := map[string]*hcl.File{d.Subject.Filename: f}
			if err := hcl.NewDiagnosticTextWriter(w, one, width, color).WriteDiagnostic(cd); err != nil {
				return err
			}
			continue
		}
		if err := dw.WriteDiagnostic(d); err != nil {
			return err
		}
	}
	return nil
}

// MaxSnippetLine is the longest source line a snippet shows whole.
const MaxSnippetLine = 240

// clip returns, for a diagnostic whose snippet holds a line longer than
// MaxSnippetLine, a stand-in source holding only a window of the subject's
// first line (after as many empty lines, so that line numbers hold) and the
// diagnostic with its subject moved into it.
func clip(files map[string]*hcl.File, d *hcl.Diagnostic) (*hcl.File, *hcl.Diagnostic, bool) {
	if d.Subject == nil {
		return nil, nil, false
	}
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return nil, nil, false
	}
	src := f.Bytes
	snip := *d.Subject
	if d.Context != nil {
		snip = hcl.RangeOver(snip, *d.Context)
	}
	lo, hi := min(max(snip.Start.Byte, 0), len(src)), min(max(snip.End.Byte, 0), len(src))
	first := bytes.LastIndexByte(src[:lo], '\n') + 1
	last := len(src)
	if i := bytes.IndexByte(src[hi:], '\n'); i >= 0 {
		last = hi + i
	}
	long := false
	for rest := src[first:last]; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) > MaxSnippetLine {
			long = true
			break
		}
	}
	if !long {
		return nil, nil, false
	}
	// The window: the subject's start, some context before it, as much of
	// the subject after it as fits, on the subject's first line.
	start := min(max(d.Subject.Start.Byte, 0), len(src))
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	from := max(lineStart, start-MaxSnippetLine/4)
	to := min(lineEnd, from+MaxSnippetLine)
	for from > lineStart && !utf8.RuneStart(src[from]) {
		from++
	}
	for to < lineEnd && !utf8.RuneStart(src[to]) {
		to--
	}
	var b bytes.Buffer
	b.Write(bytes.Repeat([]byte{'\n'}, d.Subject.Start.Line-1))
	if from > lineStart {
		b.WriteString("…")
	}
	at := b.Len() - from // source offset + at = offset in b
	b.Write(src[from:to])
	if to < lineEnd {
		b.WriteString("…")
	}
	end := min(max(d.Subject.End.Byte, start), to)
	cd := *d
	cd.Context = nil
	cd.Subject = &hcl.Range{
		Filename: d.Subject.Filename,
		Start:    hcl.Pos{Line: d.Subject.Start.Line, Column: d.Subject.Start.Column, Byte: start + at},
		End:      hcl.Pos{Line: d.Subject.Start.Line, Column: d.Subject.Start.Column + (end - start), Byte: end + at},
	}
	return &hcl.File{Body: f.Body, Bytes: b.Bytes()}, &cd, true
}

// ValidateJSON is the `plan validate -json` document, in the shape of
// `terraform validate -json` so existing tooling can read it.
type ValidateJSON struct {
	// FormatVersion is "1.0", as Terraform's: a reader checks the major
	// version and ignores fields it does not know.
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []DiagnosticJSON `json:"diagnostics"`
}

// DiagnosticJSON is one diagnostic in machine-readable form.
type DiagnosticJSON struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *RangeJSON `json:"range,omitempty"`
	// Snippet is the source the range points into, when the file is known.
	Snippet *SnippetJSON `json:"snippet,omitempty"`
}

// SnippetJSON is Terraform's diagnostic snippet: the source lines the
// diagnostic's range covers, the block around them, and where in those
// lines the range is, so a tool can show what the terminal shows.
type SnippetJSON struct {
	// Context names the enclosing block (`step "deploy" "app"`), or is null.
	Context *string `json:"context"`
	// Code is the whole lines the range covers, joined by "\n".
	Code      string `json:"code"`
	StartLine int    `json:"start_line"`
	// The range within Code, in bytes.
	HighlightStartOffset int `json:"highlight_start_offset"`
	HighlightEndOffset   int `json:"highlight_end_offset"`
	// Values are Terraform's expression values; plan gives none, so
	// always [].
	Values []any `json:"values"`
}

// RangeJSON is a source range; lines and columns start at 1.
type RangeJSON struct {
	Filename string  `json:"filename"`
	Start    PosJSON `json:"start"`
	End      PosJSON `json:"end"`
}

// PosJSON is a position in a source file.
type PosJSON struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// NewValidateJSON converts diagnostics to the validate -json document;
// files (may be nil) give the snippets.
func NewValidateJSON(files map[string]*hcl.File, diags hcl.Diagnostics) ValidateJSON {
	out := ValidateJSON{FormatVersion: "1.0", Diagnostics: []DiagnosticJSON{}}
	for _, d := range diags {
		dj := NewDiagnosticJSON(files, d)
		if dj.Severity == "warning" {
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		out.Diagnostics = append(out.Diagnostics, dj)
	}
	out.Valid = out.ErrorCount == 0
	return out
}

// NewDiagnosticJSON converts one diagnostic, with its snippet when files
// hold its source.
func NewDiagnosticJSON(files map[string]*hcl.File, d *hcl.Diagnostic) DiagnosticJSON {
	dj := DiagnosticJSON{Summary: d.Summary, Detail: d.Detail, Severity: "error"}
	if d.Severity == hcl.DiagWarning {
		dj.Severity = "warning"
	}
	if d.Subject != nil {
		r := d.Subject
		dj.Range = &RangeJSON{
			Filename: r.Filename,
			Start:    PosJSON{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
			End:      PosJSON{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
		}
		dj.Snippet = snippet(files, d)
	}
	return dj
}

// snippet builds the snippet object as Terraform does (whole lines over the
// subject and its context, offsets of the subject within them), from the
// same source the text renderer shows: a line longer than MaxSnippetLine
// is cut to the same window (see clip).
func snippet(files map[string]*hcl.File, d *hcl.Diagnostic) *SnippetJSON {
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return nil
	}
	var ctx *string
	if c := hcled.ContextString(f, d.Subject.Start.Byte-1); c != "" {
		ctx = &c
	}
	if cf, cd, ok := clip(files, d); ok {
		f, d = cf, cd
	}
	src := f.Bytes
	rng := *d.Subject
	if d.Context != nil {
		rng = hcl.RangeOver(rng, *d.Context)
	}
	lo, hi := min(max(rng.Start.Byte, 0), len(src)), min(max(rng.End.Byte, 0), len(src))
	first := bytes.LastIndexByte(src[:lo], '\n') + 1
	last := len(src)
	if i := bytes.IndexByte(src[hi:], '\n'); i >= 0 {
		last = hi + i
	}
	if hi > lo && hi > 0 && src[hi-1] == '\n' {
		last = hi - 1 // a range ending with its line's newline stops on that line
	}
	code := strings.TrimSuffix(string(src[first:max(last, first)]), "\r")
	clamp := func(b int) int { return min(max(b-first, 0), len(code)) }
	return &SnippetJSON{
		Context:              ctx,
		Code:                 code,
		StartLine:            rng.Start.Line,
		HighlightStartOffset: clamp(d.Subject.Start.Byte),
		HighlightEndOffset:   max(clamp(d.Subject.End.Byte), clamp(d.Subject.Start.Byte)),
		Values:               []any{},
	}
}

// JSON writes v indented, with a trailing newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Error writes a run-time error (preflight, a step, an undo): when it
// carries plan ranges (dsl.RangeError, found by dsl.Diagnostics), as
// diagnostics with the file:line and source snippet, the way validate
// prints them; otherwise as "Error: TEXT". A single diagnostic gets the
// whole error text as its detail, so no context added on the way up (the
// step, a timeout) is lost.
func Error(w io.Writer, files map[string]*hcl.File, err error, width uint, color bool) error {
	diags, ok := dsl.Diagnostics(err)
	if !ok {
		_, werr := fmt.Fprintf(w, "Error: %s\n", err)
		return werr
	}
	if len(diags) == 1 {
		d := *diags[0]
		d.Detail = err.Error()
		diags = hcl.Diagnostics{&d}
	}
	return Diagnostics(w, files, diags, width, color)
}

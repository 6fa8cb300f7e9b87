// Package render turns plans, graphs and diagnostics into what users read:
// review output for pull requests, graphs, and errors with source snippets.
// It keeps cmd/plan thin and makes every output testable with golden files.
package render

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/dsl"
)

// Diagnostics writes diagnostics as HCL renders them: severity and summary,
// the file and line, the source snippet with the offending range marked,
// and the detail.
func Diagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	if len(diags) == 0 {
		return nil
	}
	return hcl.NewDiagnosticTextWriter(w, files, width, color).WriteDiagnostics(diags)
}

// ValidateJSON is the `plan validate -json` document, in the shape of
// `terraform validate -json` so existing tooling can read it.
type ValidateJSON struct {
	Valid        bool             `json:"valid"`
	ErrorCount   int              `json:"error_count"`
	WarningCount int              `json:"warning_count"`
	Diagnostics  []DiagnosticJSON `json:"diagnostics"`
}

// DiagnosticJSON is one diagnostic in machine-readable form.
type DiagnosticJSON struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *RangeJSON `json:"range,omitempty"`
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

// NewValidateJSON converts diagnostics to the validate -json document.
func NewValidateJSON(diags hcl.Diagnostics) ValidateJSON {
	out := ValidateJSON{Diagnostics: []DiagnosticJSON{}}
	for _, d := range diags {
		dj := DiagnosticJSON{Summary: d.Summary, Detail: d.Detail, Severity: "error"}
		if d.Severity == hcl.DiagWarning {
			dj.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if d.Subject != nil {
			r := d.Subject
			dj.Range = &RangeJSON{
				Filename: r.Filename,
				Start:    PosJSON{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
				End:      PosJSON{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
			}
		}
		out.Diagnostics = append(out.Diagnostics, dj)
	}
	out.Valid = out.ErrorCount == 0
	return out
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

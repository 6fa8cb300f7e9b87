package dsl

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestRangeErrorDiagnostics(t *testing.T) {
	r1 := hcl.Range{Filename: "a.hcl", Start: hcl.Pos{Line: 3, Column: 5}}
	r2 := hcl.Range{Filename: "a.hcl", Start: hcl.Pos{Line: 9, Column: 1}}
	cause := errors.New("no container named app3")
	err := errors.Join(
		fmt.Errorf("step.deploy.app3: %w", At(cause, "Container not found", r1)),
		errors.New("plain"),
		At(At(errors.New("inner"), "Inner", r2), "Outer", r1), // the innermost range wins
	)
	diags, ok := Diagnostics(err)
	if !ok || len(diags) != 2 {
		t.Fatalf("Diagnostics = %v, %v; want 2", diags, ok)
	}
	if d := diags[0]; d.Summary != "Container not found" || d.Detail != cause.Error() || d.Subject.Start.Line != 3 {
		t.Errorf("first = %+v", d)
	}
	if d := diags[1]; d.Summary != "Inner" || d.Subject.Start.Line != 9 {
		t.Errorf("second = %+v", d)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost to errors.Is")
	}
	if _, ok := Diagnostics(errors.New("x")); ok {
		t.Error("a plain error has no diagnostics")
	}
	if At(nil, "x", r1) != nil {
		t.Error("At(nil) must be nil")
	}
}

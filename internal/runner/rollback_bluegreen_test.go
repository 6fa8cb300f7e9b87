package runner

import (
	"encoding/json"
	"testing"

	"github.com/nonstop-deploy/nonstop/executor"
)

// Only the cut-overs of an apply that finished "applied" are flipped back:
// not those of an apply that failed, was killed, or was flipped back
// already, and never another step type.
func TestFlippable(t *testing.T) {
	rec := json.RawMessage(`{"from":"blue","to":"green"}`)
	base := []executor.Entry{
		{Kind: executor.KindBegin, ApplyID: "a"},
		{Kind: executor.KindIntent, Step: `blue_green.web.deploy["g1"]`, Type: "deploy"},
		{Kind: executor.KindDone, Step: `blue_green.web.deploy["g1"]`, Type: "deploy", Record: json.RawMessage(`{}`)},
		{Kind: executor.KindIntent, Step: "blue_green.web.cutover", Type: "cutover"},
		{Kind: executor.KindDone, Step: "blue_green.web.cutover", Type: "cutover", Record: rec},
		{Kind: executor.KindCommit},
	}
	with := func(extra ...executor.Entry) []executor.Entry {
		return append(append([]executor.Entry{}, base...), extra...)
	}
	for _, tc := range []struct {
		name    string
		entries []executor.Entry
		want    int
	}{
		{"finished", with(executor.Entry{Kind: executor.KindEnd, Result: executor.ResultApplied}), 1},
		{"killed after the commit", with(), 0},
		{"flipped back already", with(executor.Entry{Kind: executor.KindEnd, Result: executor.ResultApplied},
			executor.Entry{Kind: executor.KindUndone, Step: "blue_green.web.cutover"},
			executor.Entry{Kind: executor.KindEnd, Result: "rolled back"}), 0},
		{"failed", append(base[:5:5], executor.Entry{Kind: executor.KindEnd, Result: "failed, rolled back"}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := flippable(tc.entries, executor.Summarize(tc.entries))
			if len(got) != tc.want {
				t.Fatalf("flippable: %d entries, want %d", len(got), tc.want)
			}
			if tc.want > 0 && got[0].Step != "blue_green.web.cutover" {
				t.Errorf("flippable: %s", got[0].Step)
			}
		})
	}
}

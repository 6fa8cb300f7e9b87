package render_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/steps"
)

const (
	diffOld  = "testdata/diff/old.hcl"
	diffNew  = "testdata/diff/new.hcl"
	diffSame = "testdata/diff/same.hcl"
)

func newDiff(t *testing.T, oldPath, newPath string) *render.Diff {
	t.Helper()
	op, og := loadPlan(t, oldPath)
	np, ng := loadPlan(t, newPath)
	return render.NewDiff("old.hcl", op, og, "new.hcl", np, ng)
}

var diffExt = map[string]string{"text": "txt", "markdown": "md", "json": "json"}

// TestDiffGolden pins every format on a pair of plans that differ in
// every way, and on a pair that differ only in comments and layout.
func TestDiffGolden(t *testing.T) {
	pairs := map[string][2]string{
		"changed": {diffOld, diffNew},
		"same":    {diffOld, diffSame},
	}
	for name, pair := range pairs {
		d := newDiff(t, pair[0], pair[1])
		for _, format := range render.DiffFormats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := render.WriteDiff(&b, d, format); err != nil {
					t.Fatal(err)
				}
				golden(t, "diff/"+name+"."+diffExt[format]+".golden", b.Bytes())
			})
		}
	}
}

// TestDiffFinds asserts each kind of difference on the changed pair, so a
// wrong golden file accepted with -update still fails here.
func TestDiffFinds(t *testing.T) {
	d := newDiff(t, diffOld, diffNew)
	if d.Empty() {
		t.Fatal("no differences found")
	}
	if len(d.Added) == 1 && d.Added[0].SameAs != "" {
		t.Errorf("a health check with other attributes is the same as the removed one: %+v", d.Added[0])
	}
	if len(d.Removed) != 1 || d.Removed[0].Address != "step.health_check.app1" || d.Removed[0].Position != 5 {
		t.Errorf("removed: %+v", d.Removed)
	}
	if len(d.Added) != 1 || d.Added[0].Address != "step.health_check.app2" || d.Added[0].Position != 4 {
		t.Errorf("added: %+v", d.Added)
	}
	changed := map[string]render.StepChange{}
	for _, c := range d.Changed {
		changed[c.Address] = c
	}
	attr := func(step, name string) (render.Change, bool) {
		for _, a := range changed[step].Attributes {
			if a.Name == name {
				return a, true
			}
		}
		return render.Change{}, false
	}
	if _, ok := changed["step.drain.app2"]; ok {
		t.Errorf("step.drain.app2 is the same in both plans: %+v", changed["step.drain.app2"])
	}
	// deploy.app1 and deploy.app2 swapped places.
	for step, move := range map[string]render.Move{"step.deploy.app1": {Old: 3, New: 2}, "step.deploy.app2": {Old: 2, New: 3}} {
		if m := changed[step].Moved; m == nil || *m != move {
			t.Errorf("%s moved: %+v, want %+v", step, m, move)
		}
	}
	if a := changed["step.deploy.app1"].After; a == nil || strings.Join(a.Old, ",") != "step.deploy.app2" || strings.Join(a.New, ",") != "step.drain.app2" {
		t.Errorf("deploy.app1 after: %+v", a)
	}
	// restore.app2 waits for another step but keeps its place among the
	// shared steps (last): its after changed, it did not move.
	if c := changed["step.restore.app2"]; c.Moved != nil || c.After == nil {
		t.Errorf("restore.app2: %+v", c)
	}
	if a, ok := attr("step.restore.app2", "timeout"); !ok || a.Old != "30s" || a.New != "45s" {
		t.Errorf("restore.app2 timeout: %+v", a)
	}
	if a, ok := attr("step.deploy.app2", "image"); !ok || a.Old != `"example/app:v1"` || a.New != `"example/app:v2"` {
		t.Errorf("image: %+v", a)
	}
	if a, ok := attr("step.deploy.app2", "env"); !ok || !strings.Contains(a.Old, `"info"`) || !strings.Contains(a.New, `"debug"`) {
		t.Errorf("env: %+v", a)
	}
	if a, ok := attr("step.deploy.app2", "pull"); !ok || a.Change != "added" || a.New != `"always"` {
		t.Errorf("pull: %+v", a)
	}
	if a, ok := attr("step.deploy.app1", "env"); !ok || !a.Sensitive || a.Change != "changed" || a.Old != "(sensitive)" || a.New != "(sensitive)" {
		t.Errorf("sensitive env: %+v", a)
	}
	plan := map[string]render.Change{}
	for _, c := range d.Plan {
		plan[c.Name] = c
	}
	if c := plan["description"]; c.New != "Roll app1 and app2 | safely" {
		t.Errorf("description: %+v", c)
	}
	if c := plan["variable.version"]; c.Old != `"v1"` || c.New != `"v2"` {
		t.Errorf("variable.version: %+v", c)
	}
	if c := plan["variable.api_token"]; !c.Sensitive || c.Change != "changed" || c.Old != "(sensitive)" || c.New != "(sensitive)" {
		t.Errorf("variable.api_token: %+v", c)
	}
}

// TestDiffSensitiveSame: a sensitive attribute whose value did not change
// is no difference, though both sides read "(sensitive)".
func TestDiffSensitiveSame(t *testing.T) {
	if d := newDiff(t, diffOld, diffSame); !d.Empty() {
		var b bytes.Buffer
		_ = render.WriteDiff(&b, d, "text")
		t.Errorf("identical plans differ:\n%s", b.String())
	}
}

// TestDiffSameWave: steps of one wave run in parallel; swapping them in
// the file changes show's numbering but moves nothing.
func TestDiffSameWave(t *testing.T) {
	if d := newDiff(t, "testdata/diff/parallel.hcl", "testdata/diff/parallel-swapped.hcl"); !d.Empty() {
		t.Errorf("swapping two steps of one wave is a difference: %+v", d.Changed)
	}
}

// TestDiffHidesSecrets: neither secret appears in any format.
func TestDiffHidesSecrets(t *testing.T) {
	d := newDiff(t, diffOld, diffNew)
	for _, format := range render.DiffFormats {
		var b bytes.Buffer
		if err := render.WriteDiff(&b, d, format); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"old-s3cr3t", "new-s3cr3t"} {
			if strings.Contains(b.String(), secret) {
				t.Errorf("-format %s prints %q:\n%s", format, secret, b.String())
			}
		}
		if !strings.Contains(b.String(), "(sensitive)") {
			t.Errorf("-format %s does not say (sensitive):\n%s", format, b.String())
		}
	}
}

// TestDiffMarkdownTable: every row of the table has the header's five
// cells, whatever pipes the values hold.
func TestDiffMarkdownTable(t *testing.T) {
	var b bytes.Buffer
	if err := render.WriteDiff(&b, newDiff(t, diffOld, diffNew), "markdown"); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		rows++
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 6 {
			t.Errorf("row with %d cell borders, want 6: %s", n, line)
		}
	}
	if rows < 10 {
		t.Errorf("%d table rows:\n%s", rows, b.String())
	}
}

// TestDiffRollout compares the copy-paste rolling update with its rollout
// block version. They run the same eight steps with the same attributes
// in the same order, but under other addresses (step.drain.app2 against
// rollout.apps["app2"].drain): matched by address, all eight are removed
// and eight added, each added one the same as the removed one at its
// place; and the name differs.
func TestDiffRollout(t *testing.T) {
	d := newDiff(t, "../../plans/rolling-update.hcl", "../../plans/rolling-update-rollout.hcl")
	if len(d.Removed) != 8 || len(d.Added) != 8 || len(d.Changed) != 0 {
		t.Errorf("removed %d, added %d, changed %d; want 8, 8, 0", len(d.Removed), len(d.Added), len(d.Changed))
	}
	for i := range d.Added {
		if d.Added[i].SameAs != d.Removed[i].Address {
			t.Errorf("#%d: %+v against %+v", i+1, d.Removed[i], d.Added[i])
		}
	}
	if len(d.Plan) != 1 || d.Plan[0].Name != "name" || d.Plan[0].New != "rolling-update-rollout" {
		t.Errorf("plan changes: %+v", d.Plan)
	}
	if d := newDiff(t, "../../plans/rolling-update.hcl", "../../plans/rolling-update.hcl"); !d.Empty() {
		t.Errorf("a plan differs from itself: %+v", d)
	}
}

func TestDiffJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := render.WriteDiff(&b, newDiff(t, diffOld, diffSame), "json"); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"plan", "removed", "added", "changed"} {
		if l, ok := doc[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s: %#v, want []", k, doc[k])
		}
	}
	if err := render.WriteDiff(&b, newDiff(t, diffOld, diffSame), "yaml"); err == nil {
		t.Error("-format yaml: no error")
	}
}

// TestDiffSelf: every valid test plan, loaded twice, has no difference
// with itself: nothing in the comparison (the digests of sensitive
// values included) depends on map order, pointers or source positions.
func TestDiffSelf(t *testing.T) {
	paths, err := filepath.Glob("../../dsl/testdata/valid/*.hcl")
	if err != nil || len(paths) < 5 {
		t.Fatalf("%d plans, %v", len(paths), err)
	}
	compared := 0
	for _, path := range append(paths, "../../plans/rolling-update-rollout.hcl") {
		p, diags := dsl.Load(path, steps.Builtin(), dsl.Options{})
		if diags.HasErrors() {
			continue // a valid plan may need a -var
		}
		if _, gd := executor.Build(p); gd.HasErrors() {
			continue
		}
		compared++
		op, og := loadPlan(t, path)
		np, ng := loadPlan(t, path)
		if d := render.NewDiff(path, op, og, path, np, ng); !d.Empty() {
			t.Errorf("%s (%s) differs from itself: %+v", path, p.Name, d)
		}
	}
	t.Logf("%d of %d plans compared", compared, len(paths)+1)
	if compared < len(paths)/2 {
		t.Errorf("only %d of %d plans compared", compared, len(paths)+1)
	}
}

package bench

import (
	"strings"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// TestDynamicPlanSource: the reload-free plan for N apps keeps mode =
// "dynamic" and targets every app, last first.
func TestDynamicPlanSource(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	four, err := DynamicPlanSource(root, 4)
	if err != nil || !strings.Contains(four, `apps = ["app4", "app3", "app2", "app1"]`) || !strings.Contains(four, `mode          = "dynamic"`) {
		t.Fatalf("4-app dynamic plan: %v\n%s", err, four)
	}
}

// TestComposeFile: scale-and-swap's compose file gives every service the
// new MESSAGE and seedtopo's label, so that Close removes the containers
// compose creates.
func TestComposeFile(t *testing.T) {
	topo := &seedtopo.Topology{Project: "p1", Apps: []seedtopo.App{{Service: "app1"}, {Service: "app2"}}}
	topo.Images.App = "nonstop-testapp:x"
	f := composeFile(topo, "v2")
	for _, want := range []string{"  app2:\n", `MESSAGE: "app2,v2"`, seedtopo.LabelKey + `: "p1"`, `image: "nonstop-testapp:x"`} {
		if !strings.Contains(f, want) {
			t.Errorf("compose file lacks %q:\n%s", want, f)
		}
	}
}

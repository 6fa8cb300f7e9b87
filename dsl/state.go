// This file resolves where a plan's state lives: `state = nginx.NAME` in
// the plan block keeps the lock, the journals and the history in that
// nginx's container, where every runner that applies the plan reaches
// them through the engine (docs/remote.md, "Where state lives");
// `state = "local"` (the default) keeps them in .nonstop/ next to the plan.
package dsl

import (
	"fmt"
	"path"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// State is shared state: the nginx whose container holds it, and the
// folder inside that container.
type State struct {
	Nginx *Nginx
	// Path is the absolute folder in the container: state_path, else
	// DefaultStateRoot/<plan name>.
	Path  String
	Range hcl.Range
}

// Describe says where the state is, for review: "nginx.lb, in its
// container at /var/lib/nonstop/web"; a nil State is "local".
func (s *State) Describe() string {
	if s == nil {
		return "local"
	}
	return fmt.Sprintf("nginx.%s, in its container at %s", s.Nginx.Name, s.Path.Value)
}

// DefaultStateRoot is the folder under which shared state lives, one
// folder per plan name. Users mount a volume there so the state outlives
// the nginx container.
const DefaultStateRoot = "/var/lib/nonstop"

// stateNameRE is what a plan name must be to name its state folder.
var stateNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// decodeState resolves the plan block's state and state_path.
func (l *loader) decodeState() hcl.Diagnostics {
	a := l.stateAttr
	if a == nil {
		if l.statePath.Set {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "state_path without shared state",
				Detail:   "state_path names the state's folder in the nginx container of `state = nginx.NAME`. Add state = nginx.NAME, or remove state_path to keep the state in .nonstop/ next to the plan.",
				Subject:  l.statePath.Range.Ptr(),
			}}
		}
		return nil
	}
	if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() && v.AsString() == "local" {
		if l.statePath.Set {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "state_path with local state",
				Detail:   "Local state lives in .nonstop/ next to the plan (or -state-dir). Remove state_path, or set state = nginx.NAME to share the state in that nginx's container.",
				Subject:  l.statePath.Range.Ptr(),
			}}
		}
		return nil
	}
	rng := a.Expr.Range()
	l.plan.StateDecl = &rng
	tr, d := hcl.AbsTraversalForExpr(a.Expr)
	if d.HasErrors() || tr.RootName() != "nginx" || len(tr) != 2 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid state",
			Detail:   `state is "local" (the default: .nonstop/ next to the plan) or nginx.NAME, to share the lock and journals in that nginx's container with every runner.`,
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	// nginx blocks are decoded: refer to them as step bodies do.
	stage := l.stage
	l.stage = stageBodies
	name, diags := l.blockRef(a.Expr, "nginx")
	l.stage = stage
	if name == "" {
		return diags
	}
	n := l.nginxByName[name].model
	if !n.Container.Set {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Shared state needs an nginx in a container",
			Detail:   fmt.Sprintf("nginx.%s runs on this host (pid_file), so its state is already where `plan` runs: remove state to keep it in .nonstop/ next to the plan. Shared state is kept in an nginx container, reached through its engine.", name),
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	st := &State{Nginx: n, Range: a.Expr.Range(), Path: l.statePath}
	switch {
	case l.statePath.Set:
		p := l.statePath.Value
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid state_path",
				Detail:   fmt.Sprintf("state_path is the state's folder inside the nginx container: an absolute, clean path other than /, such as %s/%s.", DefaultStateRoot, l.plan.Name),
				Subject:  l.statePath.Range.Ptr(),
			}}
		}
	case !stateNameRE.MatchString(l.plan.Name):
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "The plan's name cannot name its state folder",
			Detail:   fmt.Sprintf("Shared state lives in %s/<plan name>, and %q is not a folder name (letters, digits, '.', '_' and '-'). Set name in the plan block, or state_path.", DefaultStateRoot, l.plan.Name),
			Subject:  a.Expr.Range().Ptr(),
		}}
	default:
		st.Path = String{Value: DefaultStateRoot + "/" + l.plan.Name, Range: a.Expr.Range()}
	}
	l.plan.State = st
	return diags
}

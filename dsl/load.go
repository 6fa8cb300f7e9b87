// This file holds Load: files to a typed Plan, in the order its blocks may
// refer to each other, with every diagnostic accumulated.
package dsl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Options carries the values a plan's variables get from outside the plan.
type Options struct {
	// Vars are -var name=value flags, in the order given (a later one wins).
	Vars []VarFlag
	// VarFiles are -var-file paths, in order.
	VarFiles []string
	// Env is the environment, as os.Environ returns it; PLAN_VAR_<name>
	// entries set variables. Nil means no environment.
	Env []string
}

// VarFlag is one -var name=value flag.
type VarFlag struct{ Name, Value string }

// ParseVarFlag splits a -var argument "name=value".
func ParseVarFlag(s string) (VarFlag, error) {
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return VarFlag{}, fmt.Errorf("-var %q: expected name=value, e.g. -var version=v2", s)
	}
	return VarFlag{Name: name, Value: value}, nil
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "plan"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "docker", LabelNames: []string{"name"}},
		{Type: "nginx", LabelNames: []string{"name"}},
		{Type: "step", LabelNames: []string{"type", "name"}},
		{Type: "rollout", LabelNames: []string{"name"}},
		{Type: "blue_green", LabelNames: []string{"name"}},
	},
}

// loader holds the state of one Load call.
type loader struct {
	reg   Registry
	opts  Options
	plan  *Plan
	stage stage

	varValues    map[string]cty.Value
	localExprs   map[string]*hcl.Attribute
	localVals    map[string]cty.Value
	localState   map[string]int
	nginxByName  map[string]*nginxBlock
	dockerByName map[string]*dockerBlock
	stepBlocks   map[string]*stepBlock // by "type.name"
	rollouts     map[string]*rolloutBlock
	// blueGreens holds the blue_green blocks by name, blueGreenOrder
	// their names in source order (bluegreen.go).
	blueGreens     map[string]*blueGreenBlock
	blueGreenOrder []string
	// secrets holds the values of sensitive variables and of attributes
	// derived from them, for redact.
	secrets map[string]bool
	// groups maps a reference that names several instances (step.T.N with
	// for_each, rollout.R, rollout.R["t"]) to their addresses.
	groups map[string][]string
	// stateAttr and statePath are the plan block's state and state_path,
	// resolved once the nginx blocks are decoded (state.go).
	stateAttr *hcl.Attribute
	statePath String
	// masks holds, per -var-file, the ranges of sensitive values in it.
	masks map[string][]hcl.Range
}

// Load reads the plan at path (a file, or a folder of *.hcl files) and
// decodes it with the step types of reg. It returns every problem it finds,
// not just the first; the plan is nil only when nothing could be decoded.
func Load(path string, reg Registry, opts Options) (*Plan, hcl.Diagnostics) {
	files, dir, diags := readFiles(path)
	if diags.HasErrors() {
		return &Plan{Path: path, Dir: dir, Files: files}, diags
	}
	l := &loader{
		reg:          reg,
		opts:         opts,
		plan:         &Plan{Path: path, Dir: dir, Files: files},
		varValues:    map[string]cty.Value{},
		localExprs:   map[string]*hcl.Attribute{},
		localVals:    map[string]cty.Value{},
		localState:   map[string]int{},
		nginxByName:  map[string]*nginxBlock{},
		dockerByName: map[string]*dockerBlock{},
		stepBlocks:   map[string]*stepBlock{},
		rollouts:     map[string]*rolloutBlock{},
		blueGreens:   map[string]*blueGreenBlock{},
		groups:       map[string][]string{},
		secrets:      map[string]bool{},
		masks:        map[string][]hcl.Range{},
	}
	l.plan.Name = strings.TrimSuffix(filepath.Base(path), ".hcl")
	l.plan.OnFailure = String{Value: "rollback"}
	diags = append(diags, l.load(files)...)
	if diags.HasErrors() {
		l.maskSecrets()
	}
	return l.plan, l.redact(dedupe(diags))
}

// maskSecrets replaces, in the -var-file sources kept for snippets, every
// sensitive value with asterisks, byte for byte so ranges still hold: an
// error about that line (a value of the wrong type) must not print it. Only
// a plan with errors is masked; a valid plan keeps its bytes, which apply
// hashes to recognise the plan.
func (l *loader) maskSecrets() {
	for path, ranges := range l.masks {
		f := l.plan.Files[path]
		if f == nil {
			continue
		}
		b := bytes.Clone(f.Bytes)
		for _, r := range ranges {
			for i := r.Start.Byte; i < r.End.Byte && i < len(b); i++ {
				if b[i] != '\n' && b[i] != '\r' {
					b[i] = '*'
				}
			}
		}
		l.plan.Files[path] = &hcl.File{Body: f.Body, Bytes: b, Nav: f.Nav}
	}
}

// readFiles parses one file or every *.hcl file of a folder, sorted by name.
func readFiles(path string) (map[string]*hcl.File, string, hcl.Diagnostics) {
	files := map[string]*hcl.File{}
	info, err := os.Stat(path)
	if err != nil {
		return files, filepath.Dir(path), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read plan",
			Detail:   fmt.Sprintf("%s. Give the path of a plan file (*.hcl) or of a folder holding them.", err),
		}}
	}
	names := []string{path}
	dir := filepath.Dir(path)
	if info.IsDir() {
		dir = path
		names, _ = filepath.Glob(filepath.Join(path, "*.hcl"))
		sort.Strings(names)
		if len(names) == 0 {
			return files, dir, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No plan files",
				Detail:   fmt.Sprintf("The folder %s holds no *.hcl files. Give the path of a plan file, or of a folder holding them.", path),
			}}
		}
	}
	var diags hcl.Diagnostics
	for _, n := range names {
		src, err := ReadSource(n)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read plan file", Detail: err.Error() + "."})
			continue
		}
		if d := CheckSource(src, n); d.HasErrors() {
			// Kept for the snippet, with nothing a terminal would obey.
			files[n] = &hcl.File{Body: hcl.EmptyBody(), Bytes: displayCopy(src)}
			diags = append(diags, d...)
			continue
		}
		f, d := parseFile(src, n)
		diags = append(diags, d...)
		if f != nil {
			files[n] = f
		}
	}
	return files, dir, diags
}

func (l *loader) load(files map[string]*hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byType := map[string][]*hcl.Block{}
	for _, name := range sortedKeys(files) {
		content, d := files[name].Body.Content(rootSchema)
		diags = append(diags, d...)
		for _, b := range content.Blocks {
			byType[b.Type] = append(byType[b.Type], b)
		}
	}
	// Order matters: each stage may refer to what the earlier ones decoded
	// (see stage and loader.notReady).
	l.stage = stageHeader
	diags = append(diags, l.decodePlanBlocks(byType["plan"])...)
	diags = append(diags, l.decodeVariables(byType["variable"])...)
	// Blocks are registered before anything is evaluated, so references
	// between them resolve whatever the order in the files.
	diags = append(diags, l.collectLocals(byType["locals"])...)
	diags = append(diags, l.collectDocker(byType["docker"])...)
	diags = append(diags, l.collectNginx(byType["nginx"])...)
	diags = append(diags, l.collectSteps(byType["step"])...)
	diags = append(diags, l.collectRollouts(byType["rollout"])...)
	diags = append(diags, l.collectBlueGreens(byType["blue_green"])...)
	l.stage = stageLocals
	diags = append(diags, l.evalLocals()...)
	l.stage = stageDocker
	diags = append(diags, l.decodeDocker()...)
	l.stage = stageNginx
	diags = append(diags, l.decodeNginx()...)
	diags = append(diags, l.decodeState()...)
	diags = append(diags, l.decodeSteps()...) // stageForEach, then stageBodies
	diags = append(diags, l.decodeRollouts()...)
	diags = append(diags, l.decodeBlueGreens()...)
	diags = append(diags, l.resolveDependencies()...)
	diags = append(diags, l.blueGreenDependencies()...)
	if len(l.plan.Steps) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Empty plan",
			Detail:   "The plan declares no step and no rollout, so apply would do nothing. Add a rollout block or step blocks; if this file only holds shared blocks, validate the folder that holds the whole plan.",
			Subject:  l.firstRange(files).Ptr(),
		})
	}
	return diags
}

// firstRange is the start of the plan's first file, for diagnostics about
// the plan as a whole.
func (l *loader) firstRange(files map[string]*hcl.File) hcl.Range {
	names := sortedKeys(files)
	if len(names) == 0 {
		return hcl.Range{}
	}
	return hcl.Range{Filename: names[0], Start: hcl.InitialPos, End: hcl.InitialPos}
}

// dedupe drops repeated diagnostics: a mistake in a for_each step or a
// rollout phase is found once per instance, but is one mistake.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		subject         hcl.Range
	}
	seen := make(map[key]bool, len(diags))
	out := diags[:0:0]
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.subject = *d.Subject
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// duplicate reports a second declaration of the same name.
func duplicate(kind, name string, first, again hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s %s", kind, name),
		Detail:   fmt.Sprintf("%s %s was already declared at %s. Names must be unique in a plan: rename or remove one.", kind, name, first),
		Subject:  again.Ptr(),
	}
}

func joinPath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	abs, err := filepath.Abs(filepath.Join(dir, p))
	if err != nil {
		return filepath.Join(dir, p)
	}
	return abs
}

// blockRef decodes an expression that must be a bare reference to a block
// of the given kind (nginx.NAME, docker.NAME) and returns the name, or "".
func (l *loader) blockRef(expr hcl.Expression, kind string) (string, hcl.Diagnostics) {
	tr, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || tr.RootName() != kind || len(tr) != 2 {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + kind + " reference",
			Detail:   fmt.Sprintf("This must refer to a %s block by name, such as %s.NAME.", kind, kind),
			Subject:  expr.Range().Ptr(),
		}}
	}
	sc := &scope{loader: l}
	if d := sc.checkTraversal(tr); d.HasErrors() {
		return "", d
	}
	name, _, _ := attrName(tr, 1)
	return name, nil
}

// minSecretLen is the shortest sensitive value redact hides: replacing
// every "1" or "v2" in every message would garble them, and values that
// short are not secrets worth the name.
const minSecretLen = 3

// addSecrets records the primitive values inside v (a sensitive value) so
// that redact can hide them.
func (l *loader) addSecrets(v cty.Value) {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if s := v.AsString(); len(s) >= minSecretLen {
			l.secrets[s] = true
			// Messages usually quote values with %q.
			if q := strconv.Quote(s); q[1:len(q)-1] != s {
				l.secrets[q[1:len(q)-1]] = true
			}
		}
	case ty == cty.Number:
		if s := v.AsBigFloat().Text('f', -1); len(s) >= minSecretLen {
			l.secrets[s] = true
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if ty.IsMapType() {
				l.addSecrets(k)
			}
			l.addSecrets(e)
		}
	}
}

// redact hides sensitive values in diagnostics. Whatever reports a problem
// with a value (a function that cannot convert it, a step type that finds
// it malformed) tends to quote it; the user sees "(sensitive)" instead.
func (l *loader) redact(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(l.secrets) == 0 {
		return diags
	}
	secrets := sortedKeys(l.secrets)
	// Longest first, so that a secret containing another is hidden whole.
	sort.SliceStable(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "(sensitive)")
	}
	r := strings.NewReplacer(pairs...)
	for _, d := range diags {
		d.Summary = r.Replace(d.Summary)
		d.Detail = r.Replace(d.Detail)
	}
	return diags
}

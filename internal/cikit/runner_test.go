// This file is a small stand-in for a GitHub Actions runner, enough to run
// the kit's run: steps for real: the runner's shell, GITHUB_OUTPUT files,
// the env of the workflow, job and step, and the few expressions the kit
// uses. An expression it does not know fails the test, so a change to the
// workflow cannot slip past it unrun.
package cikit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// fakeRunner runs jobs of one workflow in a workspace folder.
type fakeRunner struct {
	t         *testing.T
	wf        *actionlint.Workflow
	workspace string
	temp      string   // RUNNER_TEMP
	bin       string   // the folder of plan and gh, first on PATH
	home      string   // HOME
	env       []string // the runner's environment (PATH, GITHUB_*)
	// edits are the user's edits to the workflow's env (NONSTOP_PLAN,
	// PLAN_VAR_*), over the workflow's values.
	edits []string
	// ctx is the value of each expression the kit may use, outside
	// steps.* (filled as steps run).
	ctx map[string]string
}

// stepRun is what one run: step did.
type stepRun struct {
	id      string
	code    int
	stdout  string
	outputs map[string]string
}

// jobRun is what one job did: its steps in order and its outputs.
type jobRun struct {
	steps   []stepRun
	outputs map[string]string
	failed  bool
}

func (j jobRun) step(t *testing.T, id string) stepRun {
	t.Helper()
	for _, s := range j.steps {
		if s.id == id {
			return s
		}
	}
	t.Fatalf("no step %q ran", id)
	return stepRun{}
}

func loadWorkflow(t *testing.T) *actionlint.Workflow {
	t.Helper()
	src, err := os.ReadFile(workflowPath)
	if err != nil {
		t.Fatal(err)
	}
	wf, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		t.Fatalf("parsing %s: %v", workflowPath, errs)
	}
	return wf
}

var exprRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// eval replaces each ${{ expr }} in s by its value.
func (r *fakeRunner) eval(s string, steps map[string]map[string]string) string {
	return exprRE.ReplaceAllStringFunc(s, func(m string) string {
		expr := exprRE.FindStringSubmatch(m)[1]
		if rest, ok := strings.CutPrefix(expr, "steps."); ok {
			parts := strings.Split(rest, ".")
			if len(parts) == 3 && parts[1] == "outputs" {
				return steps[parts[0]][parts[2]]
			}
		}
		v, ok := r.ctx[expr]
		if !ok {
			r.t.Fatalf("the workflow uses ${{ %s }}, which this test does not know: add it to the runner's context", expr)
		}
		return v
	})
}

// envOf is the env of a workflow, job or step, evaluated.
func (r *fakeRunner) envOf(e *actionlint.Env, steps map[string]map[string]string) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, v := range e.Vars {
		out = append(out, v.Name.Value+"="+r.eval(v.Value.Value, steps))
	}
	return out
}

// runJob runs the run: steps of job in order, skipping the actions (uses:)
// and the install step (plan is on PATH already); after a failed step only
// the steps whose if: holds with always() run, as on a runner.
func (r *fakeRunner) runJob(name string) jobRun {
	r.t.Helper()
	job := r.wf.Jobs[name]
	if job == nil {
		r.t.Fatalf("the workflow has no job %q", name)
	}
	var jr jobRun
	steps := map[string]map[string]string{}
	for i, s := range job.Steps {
		run, ok := s.Exec.(*actionlint.ExecRun)
		if !ok {
			continue
		}
		id := fmt.Sprintf("step-%d", i)
		if s.ID != nil {
			id = s.ID.Value
		}
		if id == "install" {
			if !strings.Contains(run.Run.Value, `go install "github.com/nonstop-deploy/nonstop/cmd/plan@${NONSTOP_VERSION}"`) {
				r.t.Errorf("job %s: the install step no longer installs plan at NONSTOP_VERSION:\n%s", name, run.Run.Value)
			}
			continue
		}
		if s.If != nil {
			if !r.cond(s.If.Value, steps, jr.failed) {
				continue
			}
		} else if jr.failed {
			continue // a runner skips the steps after a failure
		}
		out := filepath.Join(r.temp, "output-"+name+"-"+id)
		if err := os.WriteFile(out, nil, 0o644); err != nil {
			r.t.Fatal(err)
		}
		script := filepath.Join(r.temp, "script.sh")
		if err := os.WriteFile(script, []byte(run.Run.Value), 0o644); err != nil {
			r.t.Fatal(err)
		}
		// The runner's default shell for run: on Linux.
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = r.workspace
		cmd.Env = append(append(append(append(append([]string{}, r.env...),
			r.envOf(r.wf.Env, steps)...), r.envOf(job.Env, steps)...), r.envOf(s.Env, steps)...),
			"GITHUB_OUTPUT="+out)
		cmd.Env = append(cmd.Env, r.edits...)
		var stdout strings.Builder
		cmd.Stdout = &stdout
		cmd.Stderr = &stdout
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			r.t.Fatal(err)
		}
		outputs := readOutputs(r.t, out)
		steps[id] = outputs
		r.t.Logf("job %s, step %s: exit %d\n%s", name, id, code, stdout.String())
		jr.steps = append(jr.steps, stepRun{id: id, code: code, stdout: stdout.String(), outputs: outputs})
		if code != 0 {
			jr.failed = true
		}
	}
	jr.outputs = map[string]string{}
	for k, o := range job.Outputs {
		jr.outputs[k] = r.eval(o.Value.Value, steps)
	}
	return jr
}

// readOutputs parses a GITHUB_OUTPUT file: name=value lines and
// name<<DELIMITER ... DELIMITER blocks.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				val = append(val, sc.Text())
			}
			if !closed {
				t.Fatalf("%s: output %s: no closing %s", path, name, delim)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not an output line: %q", path, line)
		}
		out[name] = val
	}
	return out
}

// cond evaluates a step's if: the terms the kit uses, joined by &&:
// always(), and EXPR != ”. Without always() a step runs only while no
// step has failed. Anything else fails the test.
func (r *fakeRunner) cond(expr string, steps map[string]map[string]string, failed bool) bool {
	always, ok := false, true
	for _, term := range strings.Split(expr, "&&") {
		term = strings.TrimSpace(term)
		switch {
		case term == "always()":
			always = true
		case strings.HasSuffix(term, "!= ''"):
			v := r.eval("${{ "+strings.TrimSpace(strings.TrimSuffix(term, "!= ''"))+" }}", steps)
			ok = ok && v != ""
		default:
			r.t.Fatalf("the workflow has the condition %q, which this test does not know (%q): teach it", expr, term)
		}
	}
	return ok && (always || !failed)
}

// This file holds the blue-green procedure: plans/blue-green.hcl applied
// on the topology split in two colours (the first half of the apps blue
// and live, the second green and idle), then `plan rollback`, which flips
// the traffic back. Not in the default set (-procedures blue-green).
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// BlueGreen is the blue/green procedure's name.
const BlueGreen = "blue-green"

// BlueGreenCutover and BlueGreenRollback label the procedure's two
// measured phases (Result.Phases): the cut-over step of the apply, from
// its start to its end (one reload, and the wait for the old colour's
// requests), and the whole `plan rollback` run.
const (
	BlueGreenCutover  = "cutover"
	BlueGreenRollback = "rollback"
)

// BlueGreenPlanSource is plans/blue-green.hcl with the colours' targets
// set to blue's and green's services.
func BlueGreenPlanSource(repoRoot string, blue, green []seedtopo.App) (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "plans", "blue-green.hcl"))
	if err != nil {
		return "", err
	}
	src := string(b)
	for _, c := range []struct {
		old  string
		apps []seedtopo.App
	}{{`targets = ["app1", "app2"]`, blue}, {`targets = ["app3", "app4"]`, green}} {
		if !strings.Contains(src, c.old) {
			return "", fmt.Errorf("plans/blue-green.hcl has no %s to set the colours from", c.old)
		}
		var ts []string
		for _, a := range c.apps {
			ts = append(ts, strconv.Quote(a.Service))
		}
		src = strings.Replace(src, c.old, "targets = ["+strings.Join(ts, ", ")+"]", 1)
	}
	return src, nil
}

// blueGreen applies the blue/green plan (green deployed and cut over to),
// then rolls back (blue serves again), marking the cut-over and the
// rollback in the load.
func (p *procRun) blueGreen(ctx context.Context, res *Result) error {
	src, err := BlueGreenPlanSource(p.c.RepoRoot, p.t.Blue(), p.t.Green())
	if err != nil {
		return err
	}
	plan := filepath.Join(p.t.Dir, "blue-green.hcl")
	if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
		return err
	}
	vars := []string{"-var", "compose_project=" + p.t.Project, "-var", "nginx_container=" + p.t.NginxContainer,
		"-var", "image=" + p.t.Images.App, "-var", "version=" + Version}
	var cutFrom, cutTo time.Time
	out, err := p.runPlan(ctx, res, append(append([]string{"apply", "-auto-approve"}, vars...), plan), func(e event) {
		if !strings.HasSuffix(e.Step, ".cutover") {
			return
		}
		switch e.Status {
		case "running":
			cutFrom = e.Time
			p.load.MarkAt(BlueGreenCutover+" start", e.Time)
		case "done", "failed":
			cutTo = e.Time
			p.load.MarkAt(BlueGreenCutover+" "+e.Status, e.Time)
		}
	})
	if err != nil {
		res.Output = out
		return fmt.Errorf("plan apply: %w", err)
	}
	p.load.Mark(BlueGreenRollback + " start")
	began := time.Now()
	out2, err := p.runPlan(ctx, res, []string{"rollback", plan}, nil)
	took := time.Since(began)
	p.load.Mark(BlueGreenRollback + " done")
	if err != nil || p.c.KeepOutput {
		res.Output = out + out2
	}
	if err != nil {
		return fmt.Errorf("plan rollback: %w", err)
	}
	p.logf("blue-green: cut-over %s, rollback %s, %d reloads", cutTo.Sub(cutFrom).Round(time.Millisecond), took.Round(time.Millisecond), res.Reloads)
	return nil
}

// runPlan runs the plan binary with -json and debug logs, calling step for
// each step event, and counts nginx's reloads from its log into res.
func (p *procRun) runPlan(ctx context.Context, res *Result, args []string, step func(event)) (string, error) {
	actx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	args = append([]string{args[0], "-json", "-log-level", "debug"}, args[1:]...)
	cmd := exec.CommandContext(actx, p.c.PlanBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if e, ok := parseEvent(sc.Bytes()); ok && e.Type == "step" && step != nil {
			step(e)
		}
	}
	err = cmd.Wait()
	res.Reloads += strings.Count(stderr.String(), "nginx: reloaded, new workers live")
	return out.String() + stderr.String(), err
}

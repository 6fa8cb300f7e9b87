// This file runs docs/tutorial.md: every line of its ```sh blocks, in order,
// against the real engine and nginx, asserting each exit code (0, or the
// "# exit N" the line ends with) and a few key outputs, so the tutorial
// cannot rot.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// tutorialCommand is one command line of the tutorial.
type tutorialCommand struct {
	line string // as written
	exit int    // expected exit status
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)\s*$`)

// tutorialCommands returns the lines of the ```sh blocks of md, in order.
func tutorialCommands(t *testing.T, md []byte) []tutorialCommand {
	t.Helper()
	var cmds []tutorialCommand
	in := false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in = true
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in && strings.TrimSpace(line) != "" && !strings.HasPrefix(strings.TrimSpace(line), "#"):
			c := tutorialCommand{line: strings.TrimSpace(line)}
			if m := exitComment.FindStringSubmatch(line); m != nil {
				c.exit, _ = strconv.Atoi(m[1])
			}
			cmds = append(cmds, c)
		}
	}
	if in {
		t.Fatal("docs/tutorial.md: a ```sh block is not closed")
	}
	return cmds
}

// tutorialChecks are the key outputs: for the n-th command (0-based count
// among the commands starting with prefix), substrings its output must hold.
var tutorialChecks = []struct {
	prefix string
	nth    int
	want   []string
}{
	{"nonstop-topology up", 0, []string{"is up", "nginx config", "/proxy/nginx.conf", "the plan to use"}},
	{`curl -s`, 0, []string{"Hi there, I love ! app", ",v1"}},
	{"plan validate", 0, []string{"Success! The plan is valid."}},
	{"plan apply -dry-run -var-file", 0, []string{"Nothing was changed (-dry-run)", "8 to run, 0 up to date."}},
	{"plan apply -auto-approve -watch", 0, []string{"Apply complete: 8 steps.", " 0 failed;"}},
	{`curl -s`, 1, []string{",v2"}},
	{"plan history", 0, []string{"applied"}},
	{"plan diff", 0, []string{`variable.version  "v2" → "v3"`, `{ MESSAGE = "app1,v2" } → { MESSAGE = "app1,v3" }`}},
	{"plan apply -dry-run -detailed-exitcode", 0, []string{"8 to run, 0 up to date."}},
	{"plan apply -auto-approve -watch", 1, []string{"Apply complete: 8 steps.", " 0 failed;"}},
	{"plan apply -dry-run -detailed-exitcode", 1, []string{"Nothing to do"}},
	{`curl -s`, 2, []string{",v3"}},
	{"plan rollback", 0, []string{"Nothing to roll back"}},
	{"nonstop-topology down", 0, []string{"removed"}},
}

func TestTutorial(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmds := tutorialCommands(t, repoFile(t, "docs/tutorial.md"))
	if len(cmds) < 10 {
		t.Fatalf("docs/tutorial.md has %d commands in ```sh blocks; expected the whole walk-through", len(cmds))
	}

	// A name of its own, so the tutorial runs beside other tests and
	// beside a user's own tutorial topology: the commands' name and folder
	// are rewritten to it.
	name := testenv.UniqueName("nonstop-tutorial")
	dir := filepath.Join(os.TempDir(), name)
	gobin := t.TempDir()
	env := append(os.Environ(), "GOBIN="+gobin, "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NONSTOP_TOPOLOGY="+name, "NO_COLOR=1")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		owned := ""
		if _, err := os.Stat(filepath.Join(dir, "topology.json")); err == nil {
			owned = dir
		}
		if err := seedtopo.Reopen(cli, name, owned, nil).Close(ctx); err != nil {
			t.Errorf("removing the tutorial's topology: %v", err)
		}
	})

	rename := strings.NewReplacer("/tmp/nonstop-tutorial", dir, "nonstop-tutorial", name)
	cwd := root
	outputs := map[string][]string{}
	for _, c := range cmds {
		line := rename.Replace(c.line)
		if target, ok := strings.CutPrefix(line, "cd "); ok {
			cwd = target
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", line)
		cmd.Dir, cmd.Env = cwd, env
		out, err := cmd.CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		t.Logf("$ %s  (exit %d)\n%s", line, code, out)
		if code != c.exit {
			t.Fatalf("docs/tutorial.md: %q exited %d, want %d:\n%s", c.line, code, c.exit, out)
		}
		added := map[string]bool{} // several checks may share a prefix
		for _, ch := range tutorialChecks {
			if strings.HasPrefix(c.line, ch.prefix) && !added[ch.prefix] {
				outputs[ch.prefix] = append(outputs[ch.prefix], string(out))
				added[ch.prefix] = true
			}
		}
	}
	for _, ch := range tutorialChecks {
		outs := outputs[ch.prefix]
		if ch.nth >= len(outs) {
			t.Errorf("docs/tutorial.md has %d command(s) starting with %q; the test checks #%d: update tutorialChecks with the tutorial", len(outs), ch.prefix, ch.nth+1)
			continue
		}
		for _, w := range ch.want {
			if !strings.Contains(outs[ch.nth], w) {
				t.Errorf("%q #%d: output lacks %q:\n%s", ch.prefix, ch.nth+1, w, outs[ch.nth])
			}
		}
	}

	// As the tutorial says, a second down has nothing left to do, and says so.
	again := exec.Command(filepath.Join(gobin, "nonstop-topology"), "down")
	again.Dir, again.Env = root, env
	if out, err := again.CombinedOutput(); err != nil || !strings.Contains(string(out), "removed: its containers and network\n") {
		t.Errorf("a second nonstop-topology down: %v\n%s", err, out)
	}

	// The teardown is one command: nothing of the project is left.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+name))})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("after nonstop-topology down, %d container(s) of %s are left", len(left), name)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after nonstop-topology down, %s is still there (%v)", dir, err)
	}
}

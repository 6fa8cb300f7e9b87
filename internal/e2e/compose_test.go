package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// composeBinary is Debian's docker-compose (v1, Python): skipped without it,
// a failure with CI=true.
func composeBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("docker-compose")
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but docker-compose is not installed (Debian package docker-compose): %v", err)
		}
		t.Skipf("docker-compose is not installed: %v", err)
	}
	return p
}

// composeProject is a real docker-compose project in its own directory.
type composeProject struct {
	bin, dir, name string
}

func (p composeProject) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.try(args...)
	if err != nil {
		t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p composeProject) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append([]string{"--ansi", "never", "-p", p.name}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "COMPOSE_INTERACTIVE_NO_CLI=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// composeFile declares web (scaled by the test) and api, both the test app,
// at version (an image tag and the MESSAGE they answer with).
func composeFile(repo, version string) string {
	return fmt.Sprintf(`version: "2.4"
services:
  web:
    image: %[1]s:%[2]s
    environment:
      MESSAGE: web,%[2]s
  api:
    image: %[1]s:%[2]s
    environment:
      - MESSAGE=api,%[2]s
`, repo, version)
}

// serviceContainers is what compose itself sees of a service: the
// containers with the project's and the service's labels.
func serviceContainers(t *testing.T, cli client.APIClient, project, service string) map[string]container.InspectResponse {
	t.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", dockerx.LabelComposeProject+"="+project),
		filters.Arg("label", dockerx.LabelComposeService+"="+service))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]container.InspectResponse{}
	for _, c := range list {
		ins, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(ins.Name, "/")] = ins
	}
	return out
}

func envOf(c container.InspectResponse, key string) string {
	for _, e := range c.Config.Env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}

// composeSetup is a compose project up at v1 (web scaled to 2, api) and a
// plan rolling it to v2.
type composeSetup struct {
	composeProject
	repo, file, plan string
	web1, web2, api  string
	before           map[string]container.InspectResponse
}

// upComposeProject tags the test app as <repo>:v1 and :v2, brings the
// project up with `docker-compose up -d --scale web=2` and writes the plan;
// `docker-compose down` removes it all when the test ends, passed or not.
func upComposeProject(t *testing.T, cli client.APIClient) composeSetup {
	t.Helper()
	bin := composeBinary(t)
	ctx := context.Background()
	app, err := testimage.App(ctx, cli)
	if err != nil {
		t.Fatalf("building the test app image: %v", err)
	}
	p := composeProject{bin: bin, dir: t.TempDir(), name: strings.ReplaceAll(testenv.UniqueName("nscompose"), "-", "")}
	repo := "nonstop-compose-" + p.name
	for _, tag := range []string{"v1", "v2"} {
		if err := cli.ImageTag(ctx, app, repo+":"+tag); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), repo+":"+tag, image.RemoveOptions{}) })
	}
	file := filepath.Join(p.dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeFile(repo, "v1")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := p.try("down", "--remove-orphans", "-t", "1"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
		// Anything a failed deploy left under the project's label.
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", dockerx.LabelComposeProject+"="+p.name))})
		for _, c := range list {
			_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})
	p.run(t, "up", "-d", "--scale", "web=2")

	before := map[string]container.InspectResponse{}
	for _, svc := range []string{"web", "api"} {
		for n, c := range serviceContainers(t, cli, p.name, svc) {
			before[n] = c
		}
	}
	web1, web2, api := p.name+"_web_1", p.name+"_web_2", p.name+"_api_1"
	for _, n := range []string{web1, web2, api} {
		if _, ok := before[n]; !ok {
			t.Fatalf("docker-compose up made %v; want %s, %s and %s", slices.Sorted(maps.Keys(before)), web1, web2, api)
		}
	}

	// The plan names the unscaled service by its compose name and the
	// scaled one's containers by theirs (the service name alone is
	// ambiguous, which preflight says).
	plan := filepath.Join(p.dir, "roll.hcl")
	src := fmt.Sprintf(`plan {
  name = "compose-roll"
}

docker "local" {
  compose_project = %q
}

step "deploy" "api" {
  container = "api"
  image     = "%[2]s:v2"
  env       = { MESSAGE = "api,v2" }
}

step "deploy" "web1" {
  container  = %[3]q
  image      = "%[2]s:v2"
  env        = { MESSAGE = "web,v2" }
  depends_on = [step.deploy.api]
}

step "deploy" "web2" {
  container  = %[4]q
  image      = "%[2]s:v2"
  env        = { MESSAGE = "web,v2" }
  depends_on = [step.deploy.web1]
}
`, p.name, repo, web1, web2)
	if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return composeSetup{composeProject: p, repo: repo, file: file, plan: plan, web1: web1, web2: web2, api: api, before: before}
}

// TestComposeProjectRolledAndDrift brings up a real docker-compose project
// (web scaled to 2, api), rolls it to v2 with a plan naming compose
// services, and checks that compose still owns the new containers, that the
// deploy labels them and warns that the compose file still says v1, and
// what `docker-compose up -d` then does: nothing while the file is
// unchanged (the carried config-hash), a revert to v1 at an unrelated change
// of the service, and a recreate once the file is updated after the fact.
func TestComposeProjectRolledAndDrift(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()
	cs := upComposeProject(t, cli)
	p, repo, file, plan, web1, web2, api, before := cs.composeProject, cs.repo, cs.file, cs.plan, cs.web1, cs.web2, cs.api, cs.before
	// The scaled service by its name alone: preflight refuses it, naming
	// both containers, before anything changes.
	ambiguous := filepath.Join(p.dir, "ambiguous.hcl")
	src, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ambiguous, []byte(strings.Replace(string(src), fmt.Sprintf("container  = %q", web1), `container  = "web"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runPlan(t, "apply", "-auto-approve", ambiguous)
	if code == 0 || !strings.Contains(out, `compose service "web" matches 2 containers`) || !strings.Contains(out, web1) || !strings.Contains(out, web2) {
		t.Errorf("apply of a plan naming the scaled service web: exit %d, want a refusal naming %s and %s:\n%s", code, web1, web2, out)
	}
	for n, c := range before {
		if appContainer(t, cli, n).ID != c.ID {
			t.Fatalf("the refused apply replaced %s", n)
		}
	}

	code, out = runPlan(t, "apply", "-auto-approve", plan)
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}

	// Compose's own view: the new containers are the project's, same
	// service and number, and they run v2.
	ps := p.run(t, "ps")
	t.Logf("docker-compose ps after apply:\n%s", ps)
	after := map[string]container.InspectResponse{}
	for _, svc := range []string{"web", "api"} {
		for n, c := range serviceContainers(t, cli, p.name, svc) {
			after[n] = c
		}
	}
	if got := slices.Sorted(maps.Keys(after)); !slices.Equal(got, []string{api, web1, web2}) {
		t.Fatalf("the project's containers after apply: %v; want %s, %s, %s and no leftover", got, api, web1, web2)
	}
	for n, c := range after {
		b := before[n]
		if c.ID == b.ID {
			t.Errorf("%s was not replaced", n)
		}
		if !strings.Contains(ps, n) || !strings.Contains(ps[strings.Index(ps, n):], "Up") {
			t.Errorf("docker-compose ps does not list %s as up:\n%s", n, ps)
		}
		for _, l := range []string{dockerx.LabelComposeProject, dockerx.LabelComposeService, "com.docker.compose.container-number", dockerx.LabelComposeConfigHash} {
			if c.Config.Labels[l] != b.Config.Labels[l] {
				t.Errorf("%s: label %s is %q, was %q", n, l, c.Config.Labels[l], b.Config.Labels[l])
			}
		}
		if got := c.Config.Labels[dockerx.LabelImage]; got != repo+":v2" {
			t.Errorf("%s: label %s = %q, want %s:v2", n, dockerx.LabelImage, got, repo)
		}
		if _, err := time.Parse(time.RFC3339, c.Config.Labels[dockerx.LabelApplied]); err != nil {
			t.Errorf("%s: label %s = %q: %v", n, dockerx.LabelApplied, c.Config.Labels[dockerx.LabelApplied], err)
		}
		if c.Config.Image != repo+":v2" || !strings.HasSuffix(envOf(c, "MESSAGE"), ",v2") {
			t.Errorf("%s runs %s with MESSAGE=%s; want %s:v2 and v2", n, c.Config.Image, envOf(c, "MESSAGE"), repo)
		}
	}

	// The drift warning, once per replaced container, naming the service,
	// the compose file, the image it declares and the one now running.
	for _, n := range []string{api, web1, web2} {
		svc := strings.Split(n, "_")[1]
		want := fmt.Sprintf("warning: %s is compose service %q of project %q: its compose file %s declares image %s:v1, where the container now runs %s:v2",
			n, svc, p.name, file, repo, repo)
		if !strings.Contains(out, want) {
			t.Errorf("apply's output lacks\n%s", want)
		}
	}
	if strings.Count(out, "Fix: update the service in "+file+" (image "+repo+":v2") != 3 {
		t.Errorf("apply's output does not say three times how to fix the compose file")
	}

	// What compose does next, as docs/recipes.md says. With the file
	// unchanged (v1), the carried config-hash makes compose believe the
	// service current: it leaves v2 running. This is the drift.
	up := p.run(t, "up", "-d", "--scale", "web=2")
	t.Logf("docker-compose up -d, file still v1:\n%s", up)
	for n, c := range after {
		now, err := cli.ContainerInspect(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if now.ID != c.ID || envOf(now, "MESSAGE") != envOf(c, "MESSAGE") {
			t.Errorf("docker-compose up -d with the v1 file recreated %s (MESSAGE=%s): the documented behaviour is that it leaves the deploy's container", n, envOf(now, "MESSAGE"))
		}
	}
	if !strings.Contains(up, "is up-to-date") {
		t.Errorf("docker-compose up -d did not say the services are up-to-date:\n%s", up)
	}

	// The danger: an unrelated change to api in the still-v1 file makes
	// compose recreate api from the file, silently back to v1.
	unrelated := strings.Replace(composeFile(repo, "v1"), "  api:\n", "  api:\n    labels:\n      unrelated: change\n", 1)
	if err := os.WriteFile(file, []byte(unrelated), 0o644); err != nil {
		t.Fatal(err)
	}
	up = p.run(t, "up", "-d", "--scale", "web=2")
	t.Logf("docker-compose up -d, file still v1 with an unrelated change to api:\n%s", up)
	if c := appContainer(t, cli, api); envOf(c, "MESSAGE") != "api,v1" || c.Config.Image != repo+":v1" {
		t.Errorf("after an unrelated change, %s runs %s with MESSAGE=%s; the documented behaviour is a revert to the file's v1", api, c.Config.Image, envOf(c, "MESSAGE"))
	}
	if c := appContainer(t, cli, web1); c.ID != after[web1].ID {
		t.Errorf("the unrelated change to api recreated %s too", web1)
	}

	// The file brought to v2 after the apply: the config-hash is still
	// v1's, so compose recreates the containers once (undrained), from the
	// file, which now matches what runs.
	if err := os.WriteFile(file, []byte(composeFile(repo, "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	up = p.run(t, "up", "-d", "--scale", "web=2")
	t.Logf("docker-compose up -d, file at v2:\n%s", up)
	for _, svc := range []string{"web", "api"} {
		for n, c := range serviceContainers(t, cli, p.name, svc) {
			if c.Config.Image != repo+":v2" || envOf(c, "MESSAGE") != svc+",v2" || !c.State.Running {
				t.Errorf("after docker-compose up -d with the v2 file, %s runs %s with MESSAGE=%s (running %v); want %s:v2, %s,v2", n, c.Config.Image, envOf(c, "MESSAGE"), c.State.Running, repo, svc)
			}
		}
	}
}

// TestComposeFileUpdatedWithPlan is the documented workflow: the compose
// file says v2 in the same change as the plan. Where the file differs from
// the old container in nothing but image and env (web), the deploy gives the
// new containers docker-compose's own config-hash, so `docker-compose up -d`
// leaves them be; where the change also touched something else (a label on
// api), the old hash stays, so compose recreates api once to apply it.
func TestComposeFileUpdatedWithPlan(t *testing.T) {
	cli := testenv.Docker(t)
	cs := upComposeProject(t, cli)
	v2 := strings.Replace(composeFile(cs.repo, "v2"), "  api:\n", "  api:\n    labels:\n      added: in-the-same-change\n", 1)
	if err := os.WriteFile(cs.file, []byte(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runPlan(t, "apply", "-auto-approve", cs.plan)
	t.Logf("plan apply (exit %d):\n%s", code, out)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	hash := strings.Fields(cs.run(t, "config", "--hash", "web"))
	if len(hash) != 2 {
		t.Fatalf("docker-compose config --hash web: %v", hash)
	}
	for _, n := range []string{cs.web1, cs.web2} {
		if want := fmt.Sprintf("%s matches its compose file (service \"web\" of project %q); config-hash set to docker-compose's for it", n, cs.name); !strings.Contains(out, want) {
			t.Errorf("apply's output lacks\n%s", want)
		}
		if got := appContainer(t, cli, n).Config.Labels[dockerx.LabelComposeConfigHash]; got != hash[1] {
			t.Errorf("%s: config-hash %s, want docker-compose's %s", n, got, hash[1])
		}
	}
	if want := fmt.Sprintf("warning: %s is compose service \"api\" of project %q, whose compose file declares the plan's image and env; it keeps the old container's config-hash because the compose file changed more than its image and env", cs.api, cs.name); !strings.Contains(out, want) {
		t.Errorf("apply's output lacks\n%s", want)
	}
	if got := appContainer(t, cli, cs.api).Config.Labels[dockerx.LabelComposeConfigHash]; got != cs.before[cs.api].Config.Labels[dockerx.LabelComposeConfigHash] {
		t.Errorf("%s: config-hash %s, want the old container's", cs.api, got)
	}

	deployed := map[string]string{}
	for _, n := range []string{cs.web1, cs.web2, cs.api} {
		deployed[n] = appContainer(t, cli, n).ID
	}
	up := cs.run(t, "up", "-d", "--scale", "web=2")
	t.Logf("docker-compose up -d after the apply:\n%s", up)
	for _, n := range []string{cs.web1, cs.web2} {
		if !strings.Contains(up, n+" is up-to-date") || appContainer(t, cli, n).ID != deployed[n] {
			t.Errorf("docker-compose up -d recreated %s; want it left as the deploy made it", n)
		}
	}
	c := appContainer(t, cli, cs.api)
	if c.ID == deployed[cs.api] || c.Config.Labels["added"] != "in-the-same-change" || envOf(c, "MESSAGE") != "api,v2" {
		t.Errorf("%s after docker-compose up -d: recreated %v, label added=%q, MESSAGE=%s; want recreated with the label, at v2", cs.api, c.ID != deployed[cs.api], c.Config.Labels["added"], envOf(c, "MESSAGE"))
	}
}

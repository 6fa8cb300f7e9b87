package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/crypto/bcrypt"

	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// privateRegistry is a real distribution registry (Debian's
// docker-registry) on a loopback port, for this test only, with htpasswd
// authentication and its storage in a temporary folder. The engine treats
// 127.0.0.0/8 registries as insecure-allowed, so it speaks plain HTTP.
type privateRegistry struct {
	Addr       string // "127.0.0.1:PORT"
	User, Pass string
}

// startRegistry starts the registry and stops it when the test ends, even
// when it fails. With CI=true a missing registry binary fails the test.
func startRegistry(t *testing.T) *privateRegistry {
	t.Helper()
	const bin = "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but %s is missing (apt-get install -y docker-registry)", bin)
		}
		t.Skipf("%s is missing (apt-get install -y docker-registry)", bin)
	}
	dir := t.TempDir()
	r := &privateRegistry{User: "nonstop", Pass: testenv.UniqueName("pw")}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Pass), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "htpasswd"), r.User+":"+string(hash)+"\n", 0o600)
	port := loopbackPort(t)
	r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	writeTestFile(t, filepath.Join(dir, "config.yml"), fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: nonstop-test
    path: %s
`, filepath.Join(dir, "data"), r.Addr, filepath.Join(dir, "htpasswd")), 0o600)
	log := filepath.Join(dir, "registry.log")
	lf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = lf.Close()
	})
	waitListening(t, port, log)
	// Anonymous requests are refused: the registry does authenticate.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + r.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ without credentials: %s, want 401", resp.Status)
	}
	return r
}

// dockerConfig writes a DOCKER_CONFIG folder whose config.json logs in to
// the registry as user/pass ("" user: no login at all).
func (r *privateRegistry) dockerConfig(t *testing.T, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `{}`
	if user != "" {
		cfg = fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Addr, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	writeTestFile(t, filepath.Join(dir, "config.json"), cfg, 0o600)
	return dir
}

// push tags local as ref in the registry, pushes it with the test's
// credentials and removes the local tag again (the image stays under its
// other names), so that only a pull brings ref back. It returns the digest
// the registry stored.
func (r *privateRegistry) push(t *testing.T, cli client.APIClient, local, ref string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cli.ImageTag(ctx, local, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: r.User, Password: r.Pass, ServerAddress: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer rc.Close()
	digest := ""
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Error != nil {
			t.Fatalf("push %s: %s", ref, m.Error.Message)
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	}
	if digest == "" {
		t.Fatalf("push %s reported no digest", ref)
	}
	if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	return digest
}

// TestPrivateRegistryPullAlways deploys the seed's rolling update from a
// private registry with pull = "always": wrong and missing credentials are
// refused in preflight, naming the registry, with nothing changed; the
// docker CLI's login (a temporary DOCKER_CONFIG) pulls, and the journal pins
// the image by the digest the registry holds.
func TestPrivateRegistryPullAlways(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	reg := startRegistry(t)
	topo := startSeed(t, cli, seedtopo.Options{})
	repo := reg.Addr + "/nonstop/" + testenv.UniqueName("testapp")
	ref := repo + ":v2"
	digest := reg.push(t, cli, topo.Images.App, ref)
	// A stale local copy under the same tag (here: the nginx image):
	// pull = "always" must not settle for it.
	if err := cli.ImageTag(context.Background(), topo.Images.Nginx, ref); err != nil {
		t.Fatal(err)
	}
	imageID := func(name string) string {
		t.Helper()
		img, err := cli.ImageInspect(context.Background(), name)
		if err != nil {
			t.Fatalf("image %s: %v", name, err)
		}
		return img.ID
	}
	stale, fresh := imageID(topo.Images.Nginx), imageID(topo.Images.App)
	plan := seedPlan(t, topo, "rolling-update.hcl", "  image      = var.image\n", "  image      = var.image\n  pull       = \"always\"\n")
	args := []string{"apply", "-auto-approve", "-var", "compose_project=" + topo.Project, "-var", "nginx_container=" + topo.NginxContainer, "-var", "image=" + ref, plan}
	before, err := os.ReadFile(topo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	// The same plan with the default pull = "missing", for an image the
	// engine lacks: preflight pulls it, and must be refused the same way.
	absent := repo + ":absent"
	reg.push(t, cli, topo.Images.App, absent)
	missingPlan := filepath.Join(topo.Dir, "rolling-update-missing.hcl")
	src, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, missingPlan, strings.ReplaceAll(string(src), "  pull       = \"always\"\n", ""), 0o644)
	missingArgs := []string{"apply", "-auto-approve", "-var", "compose_project=" + topo.Project, "-var", "nginx_container=" + topo.NginxContainer, "-var", "image=" + absent, missingPlan}

	for _, tc := range []struct {
		name, user, pass, says string
		args                   []string
	}{
		{"wrong password", reg.User, "wrong", "auths in", args},
		{"no login", "", "", "no login for " + reg.Addr, args},
		{"pull missing, wrong password", reg.User, "wrong", "auths in", missingArgs},
	} {
		code, out := runPlanEnv(t, []string{"DOCKER_CONFIG=" + reg.dockerConfig(t, tc.user, tc.pass)}, tc.args...)
		t.Logf("%s: plan apply (exit %d):\n%s", tc.name, code, out)
		if code == 0 {
			t.Fatalf("%s: apply succeeded", tc.name)
		}
		for _, want := range []string{"registry " + reg.Addr, tc.says, "docker login " + reg.Addr} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the output does not say %q", tc.name, want)
			}
		}
		// Nothing changed: the same containers run, nginx.conf is the same,
		// and nothing was pulled.
		for _, a := range topo.Apps {
			c, err := cli.ContainerInspect(context.Background(), a.Container)
			if err != nil || c.ID != a.ID || !c.State.Running {
				t.Errorf("%s: %s is no longer the original running container (%v)", tc.name, a.Container, err)
			}
		}
		if after, _ := os.ReadFile(topo.ConfigPath); string(after) != string(before) {
			t.Errorf("%s: nginx.conf changed", tc.name)
		}
		if id := imageID(ref); id != stale {
			t.Errorf("%s: %s was pulled", tc.name, ref)
		}
		if _, err := cli.ImageInspect(context.Background(), absent); err == nil {
			t.Errorf("%s: %s was pulled", tc.name, absent)
		}
	}

	code, out := runPlanEnv(t, []string{"DOCKER_CONFIG=" + reg.dockerConfig(t, reg.User, reg.Pass)}, args...)
	t.Logf("with the login: plan apply (exit %d):\n%s", code, out)
	if code != 0 {
		t.Fatalf("apply exit code %d, want 0", code)
	}
	got := answers(t, topo, 8)
	if len(got) != 2 || got["Hi there, I love ! app1,v2"] == 0 || got["Hi there, I love ! app2,v2"] == 0 {
		t.Errorf("after apply, nginx answers %v; want only app1,v2 and app2,v2", got)
	}
	for _, a := range topo.Apps {
		c, err := cli.ContainerInspect(context.Background(), a.Container)
		if err != nil || c.Config.Image != ref || c.Image != fresh {
			t.Errorf("%s runs %q, image %s (%v), want %s pulled from the registry (%s), not the stale local copy (%s)", a.Container, c.Config.Image, c.Image, err, ref, fresh, stale)
		}
	}
	// The journal pins what ran by the registry's digest.
	want := repo + "@" + digest
	pinned := 0
	for _, e := range journal(stateDirOf(plan)) {
		if e.Kind != "done" || e.Type != "deploy" {
			continue
		}
		var rec struct {
			ImageDigest string `json:"image_digest"`
		}
		if err := json.Unmarshal(e.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ImageDigest != want {
			t.Errorf("%s: journal pins %q, want %q", e.Step, rec.ImageDigest, want)
		}
		pinned++
	}
	if pinned != 2 {
		t.Errorf("%d deploy records in the journal, want 2", pinned)
	}
}

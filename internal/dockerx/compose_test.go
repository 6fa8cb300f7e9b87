package dockerx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestComposeDrift(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docker-compose.yml", "version: '3'\nservices:\n  web:\n    image: app:v1\n    environment:\n      MESSAGE: web,v1\n      TOKEN:\n  api:\n    image: app:v1\n    environment: [\"MESSAGE=api,v1\"]\n  built:\n    build: .\n    env_file: .env\n")
	write("override.yml", "services:\n  api:\n    image: app:v2\n    environment: [\"MESSAGE=api,v2\"]\n")
	labels := func(svc, files string) map[string]string {
		return map[string]string{LabelComposeProject: "p", LabelComposeService: svc, LabelComposeWorkingDir: dir, LabelComposeConfigFiles: files}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		image  string
		env    map[string]string
		want   []string // substrings; none: no warning
	}{
		{"not compose", map[string]string{"a": "b"}, "app:v2", nil, nil},
		{"image differs", labels("web", "docker-compose.yml"), "app:v2", nil,
			[]string{`compose service "web" of project "p"`, filepath.Join(dir, "docker-compose.yml"), "declares image app:v1, where the container now runs app:v2", "Fix: update the service in"}},
		{"env differs, names no value", labels("web", "docker-compose.yml"), "app:v1", map[string]string{"MESSAGE": "web,v2", "TOKEN": "s3cret"},
			[]string{"does not declare MESSAGE, TOKEN"}},
		{"matches, latest normalised", labels("web", "docker-compose.yml"), "docker.io/library/app:v1", map[string]string{"MESSAGE": "web,v1"}, nil},
		{"override file wins", labels("api", "docker-compose.yml,override.yml"), "app:v2", map[string]string{"MESSAGE": "api,v2"}, nil},
		{"override file wins, drift", labels("api", "docker-compose.yml,override.yml"), "app:v3", nil,
			[]string{"declares image app:v2", "update the service in " + filepath.Join(dir, "override.yml")}},
		{"built, env_file", labels("built", "docker-compose.yml"), "app:v2", map[string]string{"X": "1"},
			[]string{"declares no image", "an env_file may"}},
		{"file not readable", labels("web", "/nonexistent/docker-compose.yml"), "app:v2", nil,
			[]string{"/nonexistent/docker-compose.yml cannot be checked here", "declare image app:v2"}},
		{"service not in file", labels("db", "docker-compose.yml"), "app:v2", nil, []string{`no service "db"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ComposeDrift("p_web_1", tc.labels, tc.image, tc.image, tc.env)
			if len(tc.want) == 0 {
				if got != "" {
					t.Fatalf("warning %q, want none", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q\nlacks %q", got, w)
				}
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "web,v2") {
				t.Errorf("warning shows an env value: %q", got)
			}
		})
	}
}

func TestCloneLabelsDeployLabelsWin(t *testing.T) {
	got := cloneLabels(map[string]string{LabelImage: "app:v1", LabelComposeConfigHash: "abc"}, nil, "old", map[string]string{LabelImage: "app:v2"})
	if got[LabelImage] != "app:v2" || got[LabelComposeConfigHash] != "abc" || got[ReplacesLabel] != "old" {
		t.Errorf("labels %v: want nonstop.image=app:v2 over the old one, config-hash carried, replaces=old", got)
	}
}

// A compose file that declares the plan's image and env, on an engine
// whose compose hash cannot be asked here: the old hash stays, and the
// warning says compose will recreate the container once.
func TestComposeLabelsRemoteEngineKeepsHash(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("services:\n  web:\n    image: app:v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{Name: "/p_web_1"}, Config: &container.Config{Labels: map[string]string{
		LabelComposeProject: "p", LabelComposeService: "web", LabelComposeWorkingDir: dir, LabelComposeConfigFiles: "docker-compose.yml", LabelComposeConfigHash: "abc"}}}
	set, note := ComposeLabels(context.Background(), "tcp://10.0.0.1:2376", old, "app:v2", "app:v2", nil)
	if set != nil || !strings.Contains(note, "the engine tcp://10.0.0.1:2376 is not local") || !strings.Contains(note, "recreates it once") {
		t.Errorf("set %v, note %q: want no label and a warning that compose recreates it once", set, note)
	}
	if set, note := ComposeLabels(context.Background(), "unix:///x", container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{Name: "/plain"}, Config: &container.Config{}}, "app:v2", "app:v2", nil); set != nil || note != "" {
		t.Errorf("a container no compose project made: set %v, note %q; want nothing", set, note)
	}
}

func TestComposeDriftNoFileLabel(t *testing.T) {
	got := ComposeDrift("p_web_1", map[string]string{LabelComposeProject: "p", LabelComposeService: "web"}, "app:v2", "app:v2", nil)
	if !strings.Contains(got, `warning: p_web_1 is compose service "web" of project "p", whose labels name no compose file to check`) || !strings.Contains(got, "declare image app:v2") {
		t.Errorf("warning %q", got)
	}
}

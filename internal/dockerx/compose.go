// This file holds what a deploy knows about a replaced container's Docker
// Compose service: the labels that record the deploy, and the drift between
// what now runs and what the service's compose file declares.
package dockerx

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"
)

// Labels a deploy puts on the container it creates, so that `docker
// inspect` shows what the plan did even when a compose file says otherwise.
const (
	// LabelImage is the image reference the plan deployed (absent when the
	// plan marks it sensitive).
	LabelImage = "nonstop.image"
	// LabelApplied is when the deploy created the container (RFC 3339, UTC).
	LabelApplied = "nonstop.applied"
)

// Compose's labels that name where a service's definition lives.
const (
	LabelComposeWorkingDir  = "com.docker.compose.project.working_dir"
	LabelComposeConfigFiles = "com.docker.compose.project.config_files"
	LabelComposeConfigHash  = "com.docker.compose.config-hash"
)

// ComposeService is the compose service a container belongs to, from its
// labels. The files are paths on the engine's host.
type ComposeService struct {
	Project, Service, WorkingDir string
	// ConfigFiles are the compose files in the order compose merged them,
	// made absolute against WorkingDir.
	ConfigFiles []string
}

// ComposeServiceOf reads the compose labels; ok is false for a container
// that no compose project created.
func ComposeServiceOf(labels map[string]string) (cs ComposeService, ok bool) {
	cs = ComposeService{
		Project:    labels[LabelComposeProject],
		Service:    labels[LabelComposeService],
		WorkingDir: labels[LabelComposeWorkingDir],
	}
	if cs.Project == "" || cs.Service == "" {
		return ComposeService{}, false
	}
	for _, f := range strings.Split(labels[LabelComposeConfigFiles], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !filepath.IsAbs(f) && cs.WorkingDir != "" {
			f = filepath.Join(cs.WorkingDir, f)
		}
		cs.ConfigFiles = append(cs.ConfigFiles, f)
	}
	return cs, true
}

// Declared is what a service's compose files say about it, merged as
// compose merges them (a later file's image wins, environments merge).
type Declared struct {
	// Image is the service's image, "" when the files set none (a
	// `build:`-only service). ImageFile is the file that set it.
	Image, ImageFile string
	// Env is the service's `environment`; a key listed without a value
	// (taken from compose's own environment) maps to nil.
	Env map[string]*string
	// EnvFile tells that an env_file may set more variables.
	EnvFile bool
}

// Declared reads the service from its compose files. It fails when a file
// cannot be read here (a remote engine's host) or parsed, or when no file
// defines the service.
func (cs ComposeService) Declared() (Declared, error) {
	if len(cs.ConfigFiles) == 0 {
		return Declared{}, fmt.Errorf("the container's labels name no compose file")
	}
	d := Declared{Env: map[string]*string{}}
	found := false
	for _, f := range cs.ConfigFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return Declared{}, err
		}
		var doc struct {
			Services map[string]struct {
				Image       string    `yaml:"image"`
				Environment yaml.Node `yaml:"environment"`
				EnvFile     yaml.Node `yaml:"env_file"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return Declared{}, fmt.Errorf("%s: %w", f, err)
		}
		svc, ok := doc.Services[cs.Service]
		if !ok {
			continue
		}
		found = true
		if svc.Image != "" {
			d.Image, d.ImageFile = svc.Image, f
		}
		if svc.EnvFile.Kind != 0 {
			d.EnvFile = true
		}
		if err := mergeComposeEnv(d.Env, &svc.Environment); err != nil {
			return Declared{}, fmt.Errorf("%s: service %s: environment: %w", f, cs.Service, err)
		}
	}
	if !found {
		return Declared{}, fmt.Errorf("no service %q in %s", cs.Service, strings.Join(cs.ConfigFiles, ", "))
	}
	return d, nil
}

// mergeComposeEnv adds an `environment` in either of compose's forms, a
// mapping or a list of KEY=VALUE (or bare KEY) strings.
func mergeComposeEnv(env map[string]*string, n *yaml.Node) error {
	switch n.Kind {
	case 0:
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if v.Tag == "!!null" {
				env[k] = nil
				continue
			}
			s := v.Value
			env[k] = &s
		}
		return nil
	case yaml.SequenceNode:
		for _, e := range n.Content {
			k, v, ok := strings.Cut(e.Value, "=")
			if !ok {
				env[k] = nil
				continue
			}
			env[k] = &v
		}
		return nil
	}
	return fmt.Errorf("line %d: neither a mapping nor a list", n.Line)
}

// sameImage compares two image references as the engine would resolve
// them ("app" is "docker.io/library/app:latest").
func sameImage(a, b string) bool {
	na, errA := reference.ParseNormalizedNamed(a)
	nb, errB := reference.ParseNormalizedNamed(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return reference.TagNameOnly(na).String() == reference.TagNameOnly(nb).String()
}

// ComposeDrift is the warning a deploy gives after replacing container name
// (labels: the new container's) with image (shown: what may be printed of
// it) and env: compose keeps the old config-hash label, so `docker-compose
// up` believes the service current while its compose file still declares
// the old image or env, and the next change to the service in that file
// recreates it from the file, undoing the deploy. It reads the compose files
// when they are readable here and says exactly what differs; otherwise it
// names the files and what to put in them. "" for a container no compose
// project created, or whose compose file already declares the plan's image
// and env.
func ComposeDrift(name string, labels map[string]string, image, shown string, env map[string]string) string {
	cs, ok := ComposeServiceOf(labels)
	if !ok {
		return ""
	}
	who := fmt.Sprintf("warning: %s is compose service %q of project %q", name, cs.Service, cs.Project)
	files := strings.Join(cs.ConfigFiles, ", ")
	if files == "" {
		return fmt.Sprintf("%s, whose labels name no compose file to check. If a compose file defines it, make the service declare image %s (and the plan's env) there, in the same change as the plan, or the next `docker-compose up` that recreates it brings back what the file says",
			who, shown)
	}
	revert := "docker-compose still sees it as up to date (its config-hash label is the old container's), so the next `docker-compose up` that recreates this service for any other change recreates it from the file, undoing this deploy"
	d, err := cs.Declared()
	if err != nil {
		return fmt.Sprintf("%s, whose compose file %s cannot be checked here (%v). %s. Make the service declare image %s (and the plan's env) in that file, in the same change as the plan",
			who, files, err, revert, shown)
	}
	var differ []string
	switch {
	case image == "":
	case d.Image == "":
		differ = append(differ, fmt.Sprintf("declares no image (compose builds it), not %s", shown))
	case strings.Contains(d.Image, "$"):
		differ = append(differ, fmt.Sprintf("declares image %s, with variables that cannot be checked here, where the container now runs %s", d.Image, shown))
	case !sameImage(d.Image, image):
		differ = append(differ, fmt.Sprintf("declares image %s, where the container now runs %s", d.Image, shown))
	}
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if v, ok := d.Env[k]; !ok || v == nil || *v != env[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		what := "does not declare " + strings.Join(keys, ", ") + " as the plan sets it"
		if d.EnvFile {
			what += " (an env_file may; it was not read)"
		}
		differ = append(differ, what)
	}
	if len(differ) == 0 {
		return ""
	}
	file := d.ImageFile
	if file == "" {
		file = files
	}
	return fmt.Sprintf("%s: its compose file %s %s. %s. Fix: update the service in %s (image %s and the plan's env) in the same change as the plan",
		who, files, strings.Join(differ, "; "), revert, file, shown)
}

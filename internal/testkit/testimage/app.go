// This file builds the test app's FROM scratch image: a static build of
// ./internal/testkit/testapp sent to the engine as a tar context.
package testimage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/docker/docker/client"
)

// modulePath is this repository's module; App builds ./internal/testkit/testapp in it.
const modulePath = "github.com/nonstop-deploy/nonstop"

var (
	appMu  sync.Mutex
	appRef string // last ref App returned in this process
)

// App builds (once; reused when the tag exists) the test app image: `go build`
// of ./internal/testkit/testapp with CGO_ENABLED=0 for the engine's architecture,
// FROM scratch, ENTRYPOINT the binary, EXPOSE 3000. The tag is
// "nonstop-testapp:<first 12 hex of sha256 of the binary>". It needs the Go
// toolchain and this module's source (found from this file's compile-time
// path, else `go env GOMOD` in the working directory).
func App(ctx context.Context, cli client.APIClient) (ref string, err error) {
	appMu.Lock()
	defer appMu.Unlock()
	if appRef != "" {
		if ok, err := exists(ctx, cli, appRef); err != nil {
			return "", err
		} else if ok {
			return appRef, nil
		}
	}

	bin, err := buildApp(ctx, cli)
	if err != nil {
		return "", err
	}
	ref = "nonstop-testapp:" + shortHash(bin)
	if ok, err := exists(ctx, cli, ref); err != nil {
		return "", err
	} else if ok {
		appRef = ref
		return ref, nil
	}
	tarball, err := contextTar([]entry{
		file("Dockerfile", 0o644, dockerfile(
			"FROM scratch",
			"COPY testapp /testapp",
			"EXPOSE 3000",
			"LABEL "+LabelKey+"=app",
			`ENTRYPOINT ["/testapp"]`,
		)),
		file("testapp", 0o755, bin),
	})
	if err != nil {
		return "", err
	}
	if err := buildImage(ctx, cli, ref, tarball); err != nil {
		return "", err
	}
	appRef = ref
	return ref, nil
}

// buildApp compiles ./internal/testkit/testapp as a static linux binary for the
// engine's architecture and returns its bytes. -trimpath and -buildvcs=false
// make the bytes depend only on the source and the toolchain, so the tag is
// stable across checkouts and commits.
func buildApp(ctx context.Context, cli client.APIClient) ([]byte, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	arch := runtime.GOARCH
	if v, err := cli.ServerVersion(ctx); err == nil && v.Arch != "" {
		arch = v.Arch
	}
	tmp, err := os.MkdirTemp("", "nonstop-testapp-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	out := filepath.Join(tmp, "testapp")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, "./internal/testkit/testapp")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./internal/testkit/testapp in %s: %w\n%s", root, err, b)
	}
	return os.ReadFile(out)
}

// goTool is the go command on PATH (go test puts its own first).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go" // not on PATH: exec reports it
}

// moduleRoot finds the directory of this module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	// This file's path as compiled; absolute unless built with -trimpath.
	if _, self, _, ok := runtime.Caller(0); ok && filepath.IsAbs(self) {
		root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(self)))) // internal/testkit/testimage/app.go
		if isModule(filepath.Join(root, "go.mod")) {
			return root, nil
		}
	}
	cmd := exec.CommandContext(ctx, goTool(), "env", "GOMOD")
	b, err := cmd.Output()
	if gomod := strings.TrimSpace(string(b)); err == nil && isModule(gomod) {
		return filepath.Dir(gomod), nil
	}
	return "", fmt.Errorf("cannot find the source of %s (needed to build the test app): run from inside the repository", modulePath)
}

// isModule reports whether the go.mod at path declares modulePath.
func isModule(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == modulePath
		}
	}
	return false
}

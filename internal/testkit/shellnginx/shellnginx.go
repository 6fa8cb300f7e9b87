// Package shellnginx builds, offline, the test nginx image with a shell:
// testimage.Nginx plus the host's /bin/dash as /bin/sh, /bin/cat and
// /bin/rm, as the official nginx images have them. A config file
// bind-mounted on its own can only be rewritten in place through the
// engine with such tools (`sh -c 'cat > FILE'`, see nginx.ContainerFile),
// and a plan's state kept in the container (internal/targetstate) needs
// sh, cat and rm for its lock and journals; the plain test image has
// none, which is the other case tests need.
package shellnginx

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// Image builds (or reuses, by tag) "nonstop-nginx-sh:<hash>" FROM the
// offline nginx image with /bin/sh, /bin/cat and /bin/rm from this machine
// (Debian's dash and coreutils: they need only libc, which the nginx image
// has). The tag is a hash of the Dockerfile and the three binaries.
func Image(ctx context.Context, cli client.APIClient) (string, error) {
	base, err := testimage.Nginx(ctx, cli)
	if err != nil {
		return "", err
	}
	sh, err := os.ReadFile("/bin/dash")
	if err != nil {
		return "", fmt.Errorf("shellnginx: %w (install dash)", err)
	}
	cat, err := os.ReadFile("/bin/cat")
	if err != nil {
		return "", fmt.Errorf("shellnginx: %w", err)
	}
	rm, err := os.ReadFile("/bin/rm")
	if err != nil {
		return "", fmt.Errorf("shellnginx: %w", err)
	}
	dockerfile := []byte("FROM " + base + "\nCOPY sh /bin/sh\nCOPY cat /bin/cat\nCOPY rm /bin/rm\n")
	h := sha256.New()
	for _, b := range [][]byte{dockerfile, sh, cat, rm} {
		h.Write(b)
	}
	ref := "nonstop-nginx-sh:" + hex.EncodeToString(h.Sum(nil))[:12]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"sh", 0o755, sh}, {"cat", 0o755, cat}, {"rm", 0o755, rm}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("shellnginx: building %s: %w", ref, err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("shellnginx: building %s failed: %s", ref, tailOf(out))
	}
	return ref, nil
}

func tailOf(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Package testimage builds the images that integration tests, the demo and the
// benchmark run, offline: machines here have a Docker Engine but no registry,
// so nothing can be pulled. Both images are FROM scratch, built through the
// Docker API (ImageBuild with a build context made in memory, no `docker`
// CLI, the classic builder) and tagged by a hash of their content, so a build
// happens once per content and later calls only inspect the tag:
//
//   - App: the test app (internal/testkit/testapp, the `bithavoc/hello-world-env`
//     equivalent with fault knobs), tag nonstop-testapp:<12 hex>.
//   - Nginx: the host's Debian nginx with the libraries it links, tag
//     nonstop-nginx:<12 hex>.
//
// Concurrent calls in one process are serialized per image; two processes that
// race both build, and both tags name an equivalent image.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// LabelKey marks every image this package builds; its value is "app" or
// "nginx". Old tags can be found with the filter label=nonstop.testimage.
const LabelKey = "nonstop.testimage"

// entry is one file, directory or symlink of a build context.
type entry struct {
	name     string // slash-separated, relative, no leading slash
	mode     int64  // permission bits (and sticky)
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	data     []byte
	linkname string
}

func file(name string, mode int64, data []byte) entry {
	return entry{name: name, mode: mode, typ: tar.TypeReg, data: data}
}
func dir(name string, mode int64) entry { return entry{name: name, mode: mode, typ: tar.TypeDir} }
func symlink(name, target string) entry {
	return entry{name: name, mode: 0o777, typ: tar.TypeSymlink, linkname: target}
}

// fixedTime keeps the context's bytes, and so its hash, independent of the
// files' mtimes.
var fixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// contextTar writes entries, sorted by name, as a deterministic tar.
func contextTar(entries []entry) ([]byte, error) {
	sorted := append([]entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, e := range sorted {
		if i > 0 && sorted[i-1].name == e.name {
			return nil, fmt.Errorf("build context: %s twice", e.name)
		}
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.linkname,
			ModTime: fixedTime, Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeDir {
			h.Name += "/"
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// exists reports whether ref names an image on the engine.
func exists(ctx context.Context, cli client.APIClient, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
}

// buildImage builds the tar'ed context (with its Dockerfile at the root) as
// ref, and checks afterwards that the tag exists.
func buildImage(ctx context.Context, cli client.APIClient, ref string, buildContext []byte) error {
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(buildContext), build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1, // the classic builder: no BuildKit session needed
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		return fmt.Errorf("build %s: %w\nbuild output:\n%s", ref, err, tail(out.String(), 2000))
	}
	if ok, err := exists(ctx, cli, ref); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("build %s: the build finished but the tag does not exist\nbuild output:\n%s", ref, tail(out.String(), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// dockerfile joins instructions into a Dockerfile.
func dockerfile(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// This file holds ContainerFile: a file of an nginx container, reached
// through the engine that runs it (archive API to read, exec or archive
// API to write), for a `plan` that does not see the engine's disk (a
// remote engine, or `plan` itself in a container with only the engine's
// socket). Where the file is the local source of the container's bind
// mount and the engine runs here, it is this machine's file (LocalFile).
//
// What Docker Engine 20.10 does (checked by TestContainerFileWrites):
// the archive API (PUT /containers/ID/archive, `docker cp` into a
// container) unlinks the file and creates a new one. On a file
// bind-mounted on its own that fails ("unlinkat: device or resource
// busy"), so such a file is rewritten in place by `sh -c 'cat > FILE'`
// through exec, which keeps the inode the container holds (the image
// needs a shell and cat, as the official nginx images have). Inside a
// bind-mounted folder or the container's own layer, the archive API's new
// file is what nginx opens at its next reload, and needs no tool in the
// image; it keeps the mode and owner the file had.

package nginx

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// ContainerFile is the file nginx's container knows as path, or whose
// bind-mount source on the engine's host is path, read and written
// through the engine of rt, which must come from ContainerRuntime.
// engineHere says the engine runs on this machine (a unix socket here, a
// loopback tcp:// address): then a path that is the source of one of the
// container's bind mounts and exists here is this machine's file, written
// in place, as before. The container's mounts are looked up at first use
// (so building a File does no I/O) and the answer kept: a running
// container's mounts do not change.
func ContainerFile(rt Runtime, path string, engineHere bool) (File, error) {
	r, ok := rt.(*containerRuntime)
	if !ok {
		return nil, fmt.Errorf("nginx: a container file needs the runtime of a container, not %s", rt)
	}
	return &engineFile{r: r, path: filepath.Clean(path), here: engineHere}, nil
}

// engineFile is a ContainerFile.
type engineFile struct {
	r    *containerRuntime
	path string
	here bool

	mu sync.Mutex
	// local is set when the file turned out to be this machine's.
	local File
	// name is the path inside the container; "" until resolved.
	name string
	// single is true when name is bind-mounted on its own.
	single bool
	// hdr is the file's tar header from the last read: its mode and owner,
	// which a write through the archive API keeps.
	hdr *tar.Header
}

// String names the file and how it is reached.
func (f *engineFile) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != nil || f.name == "" {
		return f.path
	}
	if f.name == f.path {
		return fmt.Sprintf("%s in %s", f.name, f.r)
	}
	return fmt.Sprintf("%s (%s in %s)", f.path, f.name, f.r)
}

// resolve decides, once, whether the file is this machine's or the
// container's, and its name inside the container.
func (f *engineFile) resolve(ctx context.Context) (local File, name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != nil || f.name != "" {
		return f.local, f.name, nil
	}
	mounts, err := f.r.mounts(ctx)
	if err != nil {
		return nil, "", err
	}
	mapped := containerPathOf(f.path, mounts)
	inContainer := mapped != ""
	if !inContainer {
		if inContainer, err = f.r.hasFile(ctx, f.path); err != nil {
			return nil, "", err
		}
	}
	if f.here {
		// A file of this machine is edited here when it is a mount's
		// source, or when the container has no such path (a copy, say:
		// the preflight's proof then says what nginx loads instead).
		if fi, err := os.Stat(f.path); err == nil && fi.Mode().IsRegular() && (mapped != "" || !inContainer) {
			f.local = LocalFile(f.path, true)
			return f.local, "", nil
		}
	}
	if !inContainer {
		var list strings.Builder
		for _, m := range mounts {
			fmt.Fprintf(&list, "; %s", m)
		}
		if len(mounts) == 0 {
			list.WriteString("; it has no mounts")
		}
		return nil, "", &notLoaded{fmt.Sprintf("%s is neither a file in %s nor the source of one of its mounts%s. Fix: set the nginx block's config to the path nginx loads inside the container (`nginx -T` lists them), such as \"/etc/nginx/nginx.conf\"",
			f.path, f.r, list.String())}
	}
	f.name = f.path
	if mapped != "" {
		f.name = mapped
	}
	for _, m := range mounts {
		if m.Type == "bind" && path.Clean(m.Destination) == f.name {
			f.single = true
		}
	}
	f.r.throughEngine(f.path, f.name)
	return nil, f.name, nil
}

// hasFile reports whether the container has a regular file at name.
func (r *containerRuntime) hasFile(ctx context.Context, name string) (bool, error) {
	st, err := r.cli.ContainerStatPath(ctx, r.container, name)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: looking for %s: %w", r, name, err)
	}
	return st.Mode.IsRegular(), nil
}

// Read returns the file's bytes as the container holds them.
func (f *engineFile) Read(ctx context.Context) ([]byte, error) {
	local, name, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if local != nil {
		return local.Read(ctx)
	}
	b, hdr, err := f.r.copyOutHeader(ctx, name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.hdr = hdr
	f.mu.Unlock()
	return b, nil
}

// Write replaces the file's bytes: in place through exec for a file
// bind-mounted on its own, through the archive API otherwise (see the
// file's comment).
func (f *engineFile) Write(ctx context.Context, data []byte) error {
	local, name, err := f.resolve(ctx)
	if err != nil {
		return err
	}
	if local != nil {
		return local.Write(ctx, data)
	}
	f.mu.Lock()
	single, hdr := f.single, f.hdr
	f.mu.Unlock()
	if single {
		return f.writeInPlace(ctx, name, data)
	}
	if hdr == nil {
		if _, err := f.Read(ctx); err != nil {
			return err
		}
		f.mu.Lock()
		hdr = f.hdr
		f.mu.Unlock()
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Name: path.Base(name), Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: hdr.Mode,
		Uid: hdr.Uid, Gid: hdr.Gid, Uname: hdr.Uname, Gname: hdr.Gname, ModTime: time.Now()}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.r.cli.CopyToContainer(ctx, f.r.container, path.Dir(name), &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s: writing %s through the engine: %w", f.r, name, err)
	}
	return nil
}

// inPlaceScript rewrites "$1" with stdin, keeping the file (O_TRUNC, not a
// new file): the one write that a single-file bind mount keeps seeing.
const inPlaceScript = `cat > "$1"`

// writeInPlace runs inPlaceScript in the container with data on stdin.
func (f *engineFile) writeInPlace(ctx context.Context, name string, data []byte) error {
	out, code, err := f.r.execStdin(ctx, []string{"sh", "-c", inPlaceScript, "sh", name}, data)
	if err != nil {
		return fmt.Errorf("writing %s in place: %w", name, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: writing %s in place (sh -c 'cat > %s') exited %d: %s", f.r, name, name, code, strings.TrimSpace(string(out)))
	}
	return nil
}

// CheckWritable implements Writable: a file bind-mounted on its own needs
// a shell in the container that can write it (`test -w`, run through
// exec, changes nothing).
func (f *engineFile) CheckWritable(ctx context.Context) error {
	local, name, err := f.resolve(ctx)
	if err != nil || local != nil {
		return err
	}
	f.mu.Lock()
	single := f.single
	f.mu.Unlock()
	if !single {
		return nil
	}
	out, code, err := f.r.execStdin(ctx, []string{"sh", "-c", `test -f "$1" && test -w "$1"`, "sh", name}, nil)
	if err == nil && code == 0 {
		return nil
	}
	why := fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(string(out)))
	if err != nil {
		why = err.Error()
	}
	return fmt.Errorf("%s is bind-mounted on its own into %s, so it must be rewritten in place, and the engine cannot do that (the archive API replaces the file, which such a mount does not see): it is done with `sh -c 'cat > %s'` in the container, and the check `sh -c 'test -w %s'` failed (%s). "+
		"Fix: use an image with a shell and cat (the official nginx images have them), or bind-mount the file's folder instead of the file, or run plan on the engine's host with config set to the mount's source",
		name, f.r, name, name, why)
}

// execStdin runs cmd in the container with stdin (nil: none) and returns
// its combined output and exit code.
func (r *containerRuntime) execStdin(ctx context.Context, cmd []string, stdin []byte) ([]byte, int, error) {
	created, err := r.cli.ContainerExecCreate(ctx, r.container, container.ExecOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: exec %s: %w", r, cmd[0], err)
	}
	att, err := r.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: exec %s: %w", r, cmd[0], err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	written := make(chan error, 1)
	go func() {
		if stdin == nil {
			written <- nil
			return
		}
		_, err := att.Conn.Write(stdin)
		if cerr := att.CloseWrite(); err == nil {
			err = cerr
		}
		written <- err
	}()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return nil, 0, fmt.Errorf("%s: exec %s: reading output: %w", r, cmd[0], err)
	}
	if err := <-written; err != nil {
		return nil, 0, fmt.Errorf("%s: exec %s: sending input: %w", r, cmd[0], err)
	}
	for {
		ins, err := r.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: exec %s: %w", r, cmd[0], err)
		}
		if !ins.Running {
			return out.Bytes(), ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("%s: exec %s: %w", r, cmd[0], ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// copyOutHeader reads one file of the container through the archive API,
// with its tar header (mode, owner).
func (r *containerRuntime) copyOutHeader(ctx context.Context, name string) ([]byte, *tar.Header, error) {
	rc, _, err := r.cli.CopyFromContainer(ctx, r.container, name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading %s: %w", r, name, err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading %s: %w", r, name, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, nil, fmt.Errorf("%s: reading %s: not a regular file", r, name)
	}
	b, err := io.ReadAll(io.LimitReader(tr, maxConfigSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading %s: %w", r, name, err)
	}
	if len(b) > maxConfigSize {
		return nil, nil, fmt.Errorf("%s: reading %s: %w", r, name, errors.New("larger than 16 MiB"))
	}
	return b, h, nil
}

// throughEngine records that the balancer path p is the container's file
// name, reached through the engine: Seen and Dump then match it by name.
func (r *containerRuntime) throughEngine(p, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.enginePaths == nil {
		r.enginePaths = map[string]string{}
	}
	r.enginePaths[p] = name
}

// enginePath is the container's name for a path recorded by throughEngine.
func (r *containerRuntime) enginePath(p string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, ok := r.enginePaths[filepath.Clean(p)]
	return name, ok
}

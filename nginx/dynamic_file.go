// This file holds how the reload-free backend (Dynamic) reaches the files
// of its state folder: as Files (file.go), opened by
// DynamicOptions.Open with the path nginx names them by, so that a state
// folder inside a remote engine's container is written through that
// engine exactly as the reload backend's config is. ContainerStateFile is
// the Open of nginx in a container; without an Open, the folder is this
// machine's (mapped through the container's mounts, as before).
//
// Atomicity: the Lua side must never balance from a torn file. On this
// machine a write is temp file + rename. Through the engine it is the
// same, run in the container (`sh -c 'cat > TMP && mv -f TMP FILE'`)
// when the image has a shell; otherwise the engine's archive API, which
// (Docker Engine 20.10) unlinks the file and writes a new one: a reader
// may then find no file or a partial one. Both sides tell: a state file
// starts with "nonstop 1", then "size N" (its length in bytes), and ends
// with "end"; the Lua module and parseState ignore a file that does not
// check, and keep the membership they had until the next read.

package nginx

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// FileOpener opens a file of the reload-free backend's state folder, name
// being the path nginx knows it by (inside its container). Reading a file
// that does not exist returns an error wrapping fs.ErrNotExist; writing
// creates it (mode 0644) and replaces it as a whole (see the file comment).
type FileOpener func(ctx context.Context, name string) (File, error)

// ContainerStateFile is the file name of nginx's container rt (from
// ContainerRuntime), for a FileOpener: this machine's file when the engine
// runs here (engineHere) and name is inside a bind mount whose source
// folder exists here; through the engine otherwise. The container's mounts
// are looked up at first use.
func ContainerStateFile(rt Runtime, name string, engineHere bool) (File, error) {
	r, ok := rt.(*containerRuntime)
	if !ok {
		return nil, fmt.Errorf("nginx: a container file needs the runtime of a container, not %s", rt)
	}
	return &stateFile{r: r, name: path.Clean(name), here: engineHere}, nil
}

// stateFile is a ContainerStateFile.
type stateFile struct {
	r    *containerRuntime
	name string
	here bool

	mu       sync.Mutex
	resolved bool
	local    File // set when the file is this machine's
	shell    int  // 0: not probed, 1: the container has sh and mv, -1: it has not
}

func (f *stateFile) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != nil {
		return fmt.Sprintf("%s (%s in %s)", f.local, f.name, f.r)
	}
	return fmt.Sprintf("%s in %s", f.name, f.r)
}

// resolve decides, once, whether the file is this machine's.
func (f *stateFile) resolve(ctx context.Context) (File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolved {
		return f.local, nil
	}
	if f.here {
		mounts, err := f.r.mounts(ctx)
		if err != nil {
			return nil, err
		}
		if p := hostPathOf(f.name, mounts); p != "" {
			if fi, err := os.Stat(filepath.Dir(p)); err == nil && fi.IsDir() {
				f.local = localStateFile(p)
			}
		}
	}
	f.resolved = true
	return f.local, nil
}

// Read implements File.
func (f *stateFile) Read(ctx context.Context) ([]byte, error) {
	local, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if local != nil {
		return local.Read(ctx)
	}
	rc, _, err := f.r.cli.CopyFromContainer(ctx, f.r.container, f.name)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%s: %s: %w", f.r, f.name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", f.r, f.name, err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", f.r, f.name, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s: reading %s: not a regular file", f.r, f.name)
	}
	b, err := io.ReadAll(io.LimitReader(tr, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", f.r, f.name, err)
	}
	return b, nil
}

// atomicScript replaces "$1" by stdin through a temp file in its folder.
const atomicScript = `umask 022 && cat > "$1.nonstop-tmp" && mv -f "$1.nonstop-tmp" "$1"`

// Write implements File: temp file + rename (here, or in the container
// when it has a shell), else the engine's archive API.
func (f *stateFile) Write(ctx context.Context, data []byte) error {
	local, err := f.resolve(ctx)
	if err != nil {
		return err
	}
	if local != nil {
		return local.Write(ctx, data)
	}
	if f.hasShell(ctx) {
		out, code, err := f.r.execStdin(ctx, []string{"sh", "-c", atomicScript, "sh", f.name}, data)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
		if code != 0 {
			return fmt.Errorf("%s: writing %s (sh -c 'cat > TMP && mv TMP %s') exited %d: %s", f.r, f.name, f.name, code, strings.TrimSpace(string(out)))
		}
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: path.Base(f.name), Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: 0o644, ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.r.cli.CopyToContainer(ctx, f.r.container, path.Dir(f.name), &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s: writing %s through the engine: %w", f.r, f.name, err)
	}
	return nil
}

// hasShell reports, probed once, whether the container can run
// atomicScript.
func (f *stateFile) hasShell(ctx context.Context) bool {
	f.mu.Lock()
	s := f.shell
	f.mu.Unlock()
	if s == 0 {
		_, code, err := f.r.execStdin(ctx, []string{"sh", "-c", "command -v cat && command -v mv"}, nil)
		s = -1
		if err == nil && code == 0 {
			s = 1
		}
		if ctx.Err() != nil {
			return false // not probed: ask again next time
		}
		f.mu.Lock()
		f.shell = s
		f.mu.Unlock()
	}
	return s == 1
}

// localStateFile is a state file on this machine: a missing one is
// created readable by nginx's workers, then every write is temp file +
// rename (writeFile keeps the mode of the file it replaces).
func localStateFile(p string) File { return localState(p) }

type localState string

func (l localState) Read(context.Context) ([]byte, error) { return os.ReadFile(string(l)) }

func (l localState) Write(_ context.Context, data []byte) error {
	p := string(l)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if f != nil {
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	return writeFile(p, data, false)
}

func (l localState) String() string { return string(l) }

// file is the File of name in the state folder, opened once.
func (d *Dynamic) file(ctx context.Context, name string) (File, error) {
	d.mu.Lock()
	f, ok := d.files[name]
	d.mu.Unlock()
	if ok {
		return f, nil
	}
	if d.o.Open == nil {
		f = localStateFile(name)
	} else {
		var err error
		if f, err = d.o.Open(ctx, name); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files == nil {
		d.files = map[string]File{}
	}
	d.files[name] = f
	return f, nil
}

// readFile returns name's bytes; (nil, nil) when it does not exist.
func (d *Dynamic) readFile(ctx context.Context, name string) ([]byte, error) {
	f, err := d.file(ctx, name)
	if err != nil {
		return nil, err
	}
	b, err := f.Read(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// config is the File of the upstream's config: ConfigFile, else ConfigPath
// on this machine's disk.
func (d *Dynamic) config() File {
	if d.o.ConfigFile != nil {
		return d.o.ConfigFile
	}
	return LocalFile(d.path, false)
}

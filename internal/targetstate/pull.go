// This file holds Pull: the container's journals and history copied into
// a local state folder, which the executor and the runner then read as
// local state.
package targetstate

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
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// maxFile bounds one shared file read by Pull: a journal or a history
// larger than this is not a plan's.
const maxFile = 256 << 20

// Pull makes localDir's newest journal (applies/*.jsonl) and history
// (history.jsonl) the container's: each replaces localDir's copy (a
// temporary file renamed over it), and every other journal localDir has
// is removed, as is a history the container has not. Only the newest
// journal is read by anything (an unfinished apply, `plan rollback`,
// `plan status`), so the cost of a pull stays that of one apply's journal
// however many applies the target keeps. A missing folder in the
// container is an empty state. The lock is not copied. A file being
// written is cut after its last whole line, as readers of a journal do.
func (s *Store) Pull(ctx context.Context, localDir string) error {
	files, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	applies := filepath.Join(localDir, "applies")
	if err := os.MkdirAll(applies, 0o700); err != nil {
		return fmt.Errorf("pulling the state from %s: %w", s, err)
	}
	for name, b := range files {
		if err := writeIfChanged(filepath.Join(localDir, filepath.FromSlash(name)), cutTorn(b)); err != nil {
			return fmt.Errorf("pulling %s from %s: %w", name, s, err)
		}
	}
	local, err := filepath.Glob(filepath.Join(applies, "*.jsonl"))
	if err != nil {
		return err
	}
	local = append(local, filepath.Join(localDir, historyFile))
	for _, p := range local {
		rel, err := filepath.Rel(localDir, p)
		if err != nil {
			return err
		}
		if _, ok := files[filepath.ToSlash(rel)]; ok {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pulling the state from %s: removing %s, which it has not: %w", s, p, err)
		}
	}
	return nil
}

// historyFile is the history's name in the state folder.
const historyFile = "history.jsonl"

// cutTorn is b up to its last newline.
func cutTorn(b []byte) []byte { return b[:bytes.LastIndexByte(b, '\n')+1] }

// listScript prints the journals of the state folder, one per line,
// then "=end"; "=nodir" when there is no folder yet. Builtins only.
const listScript = `cd "$1" 2>/dev/null || { echo =nodir; exit 0; }
for f in applies/*.jsonl; do [ -f "$f" ] && printf '%s\n' "$f"; done
echo =end
`

// newest returns the name of the newest journal in the container
// ("applies/<id>.jsonl": apply IDs sort by time), "" when there is none,
// and whether the state folder exists.
func (s *Store) newest(ctx context.Context) (name string, dir bool, err error) {
	out, errOut, code, err := s.exec(ctx, []string{"sh", "-c", listScript, "nonstop-state", s.dir}, nil)
	if err != nil {
		return "", false, err
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	switch last := lines[len(lines)-1]; {
	case last == "=nodir":
		return "", false, nil
	case last != "=end":
		return "", false, s.shellError("listing the journals", out, errOut, code)
	}
	for _, l := range lines[:len(lines)-1] {
		if validName(l) == nil && l != historyFile && l > name {
			name = l
		}
	}
	return name, true, nil
}

// fetch reads the newest journal and the history of the state folder, by
// name relative to it, as they are (a torn last line included).
func (s *Store) fetch(ctx context.Context) (map[string][]byte, error) {
	files := map[string][]byte{}
	if _, err := s.cli.ContainerInspect(ctx, s.container); err != nil {
		return nil, fmt.Errorf("%s: %w. Fix: name a running nginx container", s, err)
	}
	newest, dir, err := s.newest(ctx)
	if err != nil || !dir {
		return files, err
	}
	for _, name := range []string{newest, historyFile} {
		if name == "" {
			continue
		}
		b, found, err := s.readFile(ctx, name)
		if err != nil {
			return nil, err
		}
		if found {
			files[name] = b
		}
	}
	return files, nil
}

// readFile reads one file of the state folder through the archive API.
func (s *Store) readFile(ctx context.Context, name string) (b []byte, found bool, err error) {
	rc, _, err := s.cli.CopyFromContainer(ctx, s.container, path.Join(s.dir, name))
	if cerrdefs.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s in %s: %w", name, s, err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("reading %s in %s: the engine sent no file", name, s)
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading %s in %s: %w", name, s, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxFile+1))
		if err != nil {
			return nil, false, fmt.Errorf("reading %s in %s: %w", name, s, err)
		}
		if len(b) > maxFile {
			return nil, false, fmt.Errorf("reading %s in %s: larger than %d MiB, which no plan's state is: look at it in the container", name, s, maxFile>>20)
		}
		return b, true, nil
	}
}

// repairTails cuts a torn last line (no newline at its end) off the newest
// journal and the history in the container: the lock holder appends to
// them next, and an append after half a line would make one line of two.
// Only a shell killed mid-write of a long record (the container stopped
// at that instant) or a full disk leave one. Called under the lock.
func (s *Store) repairTails(ctx context.Context) error {
	files, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	for name, b := range files {
		if len(b) == 0 || b[len(b)-1] == '\n' {
			continue
		}
		cut := cutTorn(b)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: path.Base(name), Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(cut)), ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(cut); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := s.cli.CopyToContainer(ctx, s.container, path.Dir(path.Join(s.dir, name)), &buf, container.CopyToContainerOptions{}); err != nil {
			return fmt.Errorf("%s: cutting the torn last line of %s: %w", s, name, err)
		}
	}
	return nil
}

// writeIfChanged makes p hold b (mode 0600) through a temporary file
// renamed over it, unless it already does.
func writeIfChanged(p string, b []byte) error {
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".pull-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

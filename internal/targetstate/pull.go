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

	cerrdefs "github.com/containerd/errdefs"
)

// maxFile bounds one shared file read by Pull: a journal or a history
// larger than this is not a plan's.
const maxFile = 256 << 20

// Pull makes localDir's applies/*.jsonl and history.jsonl the
// container's, with one CopyFromContainer of the state folder: each
// shared file replaces localDir's copy (a temporary file renamed over
// it), and a journal or history localDir has that the container has not
// is removed. A missing folder in the container is an empty state. The
// lock is not copied. A file being written is cut after its last whole
// line, as readers of a journal do.
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
		if err := writeIfChanged(filepath.Join(localDir, filepath.FromSlash(name)), b); err != nil {
			return fmt.Errorf("pulling %s from %s: %w", name, s, err)
		}
	}
	local, err := filepath.Glob(filepath.Join(applies, "*.jsonl"))
	if err != nil {
		return err
	}
	local = append(local, filepath.Join(localDir, "history.jsonl"))
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

// fetch reads the shared files of the state folder, by name relative to
// it, each cut after its last newline.
func (s *Store) fetch(ctx context.Context) (map[string][]byte, error) {
	files := map[string][]byte{}
	rc, _, err := s.cli.CopyFromContainer(ctx, s.container, s.dir)
	if cerrdefs.IsNotFound(err) {
		// No such folder, or no such container: only the first is an
		// empty state.
		if _, ierr := s.cli.ContainerInspect(ctx, s.container); ierr != nil {
			return nil, fmt.Errorf("%s: %w. Fix: name a running nginx container", s, ierr)
		}
		return files, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state in %s: %w", s, err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	base := path.Base(s.dir) + "/"
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the state in %s: %w", s, err)
		}
		name, ok := strings.CutPrefix(h.Name, base)
		if !ok || h.Typeflag != tar.TypeReg || validName(name) != nil {
			continue // the lock, the folders, anything else
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxFile+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s in %s: %w", name, s, err)
		}
		if len(b) > maxFile {
			return nil, fmt.Errorf("reading %s in %s: larger than %d MiB, which no plan's state is: look at it in the container", name, s, maxFile>>20)
		}
		files[name] = b[:bytes.LastIndexByte(b, '\n')+1]
	}
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

// This file holds the one way a file on this machine's disk is written
// (LocalFile): in place for a bind-mounted file, otherwise temp file +
// rename, fsynced either way; and the Balancer's write through its File.

package nginx

import (
	"os"
	"path/filepath"
	"syscall"
)

// writeFile replaces the file's content: in place for bind-mounted files,
// otherwise atomically through a temp file in the same directory and a
// rename, keeping mode and (when permitted) owner.
func writeFile(path string, data []byte, inPlace bool) error {
	target := path
	if p, err := filepath.EvalSymlinks(target); err == nil {
		target = p // rename onto the file, not over a symlink to it
	}
	if inPlace {
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".nonstop-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // best effort: needs privileges
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// write replaces the content of the balancer's file, through its File
// (see file.go), under a context of its own: a revert must happen even
// when the caller's context is done.
func (b *Balancer) write(data []byte) error {
	ctx, cancel := b.writeTimeout()
	defer cancel()
	return b.file().Write(ctx, data)
}

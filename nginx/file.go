// This file holds File, how every backend reads and writes the files it
// edits (the config of the reload backend, a state file of another
// backend): on this machine's disk (LocalFile), or through the Docker
// engine that runs the nginx container (ContainerFile, in file_engine.go),
// so that `plan` edits a remote nginx's config without seeing its disk.

package nginx

import (
	"context"
	"fmt"
	"os"
	"time"
)

// File is one file a backend edits, wherever it lives. Read returns its
// exact bytes; Write replaces them, byte for byte, in the way that keeps
// nginx reading the new bytes (in place for a file bind-mounted on its
// own, whose identity the container holds), and returns once they are
// written (fsynced for LocalFile; for ContainerFile, once the engine's
// archive API or the exec'd `cat` has finished). Every backend reads and
// writes through a File, so a remote nginx is never edited through a
// local copy; a backend that keeps a state file writes it with the File
// of that path (LocalFile, or ContainerFile with the nginx's runtime).
type File interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, data []byte) error
	// String names the file for messages: its path, and where it is
	// reached from when that is not this machine's disk.
	String() string
}

// Writable is implemented by a File that can tell, before anything
// changes, whether Write will work (e.g. the tools it needs exist in the
// container): the preflight calls it.
type Writable interface {
	CheckWritable(ctx context.Context) error
}

// LocalFile is a file on this machine's disk. inPlace rewrites it in place
// (O_TRUNC, write, fsync) instead of temp file + rename: required when the
// file is bind-mounted into a container on its own (a rename replaces the
// inode, and the container would keep seeing the old file).
func LocalFile(path string, inPlace bool) File { return localFile{path: path, inPlace: inPlace} }

type localFile struct {
	path    string
	inPlace bool
}

func (f localFile) Read(context.Context) ([]byte, error) { return os.ReadFile(f.path) }

func (f localFile) Write(_ context.Context, data []byte) error {
	return writeFile(f.path, data, f.inPlace)
}

func (f localFile) String() string { return f.path }

// file is the File the Balancer edits: Options.File, else its ConfigPath
// on this machine's disk.
func (b *Balancer) file() File {
	if b.o.File != nil {
		return b.o.File
	}
	return LocalFile(b.path, b.o.WriteInPlace)
}

// read returns the current bytes of the balancer's file.
func (b *Balancer) read(ctx context.Context) ([]byte, error) {
	return b.file().Read(ctx)
}

// checkWritable is the preflight of the balancer's file's writes, when
// its File can tell (see Writable).
func (b *Balancer) checkWritable(ctx context.Context) error {
	if w, ok := b.file().(Writable); ok {
		if err := w.CheckWritable(ctx); err != nil {
			return fmt.Errorf("nginx config %s cannot be written: %w", b.file(), err)
		}
	}
	return nil
}

// writeTimeout bounds a write made without a caller's context (a revert
// after a failed change must still happen when the caller gave up).
func (b *Balancer) writeTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), max(b.o.ReloadTimeout, 10*time.Second))
}

// This file holds the proof that the file the reload backend edits is a
// file the running nginx loads (issue: a plan pointing at a copy of the
// config "drained" in 100 ms while nginx kept sending traffic): what
// `nginx -T` shows (Loaded), how to read it, and the check with its
// message, which names the file, what nginx loads (and, for a container,
// its mounts) and how to fix the plan.

package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotLoaded is wrapped when the file a Balancer edits is not what the
// nginx runtime loads: no loaded file is that file, or nginx sees other
// bytes in it than the disk holds (a bind mount of a file that was since
// replaced by a rename, for example). Editing it would change nothing nginx
// runs.
var ErrNotLoaded = errors.New("the edited file is not what nginx loads")

// notLoaded is a refusal that matches ErrNotLoaded without repeating its
// text: the message says it better.
type notLoaded struct{ msg string }

func (e *notLoaded) Error() string { return e.msg }

// Unwrap matches ErrNotLoaded.
func (e *notLoaded) Unwrap() error { return ErrNotLoaded }

// Loaded is what `nginx -T` showed: every file nginx loads, in load order,
// and for nginx in a container the mounts that make them files of this
// machine.
type Loaded struct {
	Files []LoadedFile
	// Mounts are the container's mounts; nil for nginx on the host.
	Mounts []Mount
	raw    []byte
	// viaEngine is set when the file to prove is reached through the
	// engine (ContainerFile): mount sources are then the engine's host's
	// paths, and the fix names the path in the container.
	viaEngine bool
}

// LoadedFile is one file of a Loaded.
type LoadedFile struct {
	// Name is the path as nginx names it (inside the container, for a
	// container).
	Name string
	// Host is the same file's path on this machine: Name for nginx on the
	// host, the mount source plus the rest of the path for a container; ""
	// when no mount covers Name (the file is in the image).
	Host string
	// Data is the content nginx read.
	Data []byte
	off  int // where Data starts in Loaded.raw
}

// Mount is one mount of nginx's container: Source on this machine (for a
// bind mount; the volume's folder for a volume) appears at Destination.
type Mount struct {
	Type        string
	Source      string
	Destination string
}

// String is the mount as `docker inspect` users know it.
func (m Mount) String() string {
	return fmt.Sprintf("%s %s -> %s", m.Type, m.Source, m.Destination)
}

const dumpHeader = "# configuration file "

// parseDump reads the stdout of `nginx -T`: for every file, a line
// "# configuration file NAME:", the file's bytes, and a newline nginx adds.
// A file holding a line that looks like such a header is split there; the
// proof then compares against the raw output at the file's offset, so it
// can still tell its bytes apart (see sameAt).
func parseDump(out []byte) *Loaded {
	l := &Loaded{raw: out}
	type hdr struct {
		name       string
		start, end int // header line; content starts at end
	}
	var hs []hdr
	for off := 0; off < len(out); {
		nl := bytes.IndexByte(out[off:], '\n')
		line := out[off:]
		if nl >= 0 {
			line = out[off : off+nl]
		}
		if bytes.HasPrefix(line, []byte(dumpHeader)) && bytes.HasSuffix(line, []byte(":")) {
			name := string(line[len(dumpHeader) : len(line)-1])
			end := off + len(line)
			if nl >= 0 {
				end++
			}
			hs = append(hs, hdr{name, off, end})
		}
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	for i, h := range hs {
		stop := len(out)
		if i+1 < len(hs) {
			stop = hs[i+1].start
		}
		data := out[h.end:stop]
		data = data[:len(data)-min(len(data), 1)] // the newline nginx adds
		l.Files = append(l.Files, LoadedFile{Name: h.name, Host: h.name, Data: data, off: h.end})
	}
	return l
}

// mapMounts sets each file's Host through the mounts: the mount with the
// longest Destination that is the file or a folder holding it.
func (l *Loaded) mapMounts(mounts []Mount) {
	l.Mounts = mounts
	for i := range l.Files {
		l.Files[i].Host = hostPathOf(l.Files[i].Name, mounts)
	}
}

// hostPathOf maps a path inside the container to this machine's path
// through mounts, "" when no mount covers it.
func hostPathOf(name string, mounts []Mount) string {
	best, host := -1, ""
	for _, m := range mounts {
		d := filepath.Clean(m.Destination)
		rel, ok := "", false
		switch {
		case name == d:
			ok = true
		case strings.HasPrefix(name, strings.TrimSuffix(d, "/")+"/"):
			rel, ok = strings.TrimPrefix(name, strings.TrimSuffix(d, "/")+"/"), true
		}
		if ok && len(d) > best && m.Source != "" {
			best, host = len(d), filepath.Join(m.Source, rel)
		}
	}
	return host
}

// containerPathOf maps this machine's path to the path inside the
// container through mounts (the inverse of hostPathOf), "" when no mount's
// source is the file or a folder holding it.
func containerPathOf(path string, mounts []Mount) string {
	best, name := -1, ""
	for _, m := range mounts {
		src := filepath.Clean(m.Source)
		if m.Source == "" {
			continue
		}
		for _, p := range candidates(path) {
			rel, ok := "", false
			switch {
			case p == src:
				ok = true
			case strings.HasPrefix(p, strings.TrimSuffix(src, "/")+"/"):
				rel, ok = strings.TrimPrefix(p, strings.TrimSuffix(src, "/")+"/"), true
			}
			if ok && len(src) > best {
				best, name = len(src), filepath.Join(m.Destination, rel)
			}
		}
	}
	return name
}

// candidates are the spellings of path worth comparing with a mount
// source: as given and with symlinks resolved.
func candidates(path string) []string {
	out := []string{filepath.Clean(path)}
	if p, err := filepath.EvalSymlinks(path); err == nil && p != out[0] {
		out = append(out, p)
	}
	return out
}

// sameFile reports whether two paths of this machine are one file.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// sameAt reports whether nginx read exactly disk for f: Data equals it, or
// the raw dump holds disk at f's offset followed by nginx's newline (a
// file that contains a header-like line).
func (l *Loaded) sameAt(f LoadedFile, disk []byte) bool {
	if bytes.Equal(f.Data, disk) {
		return true
	}
	end := f.off + len(disk)
	return end < len(l.raw) && bytes.Equal(l.raw[f.off:end], disk) && l.raw[end] == '\n'
}

// prove checks that path, holding disk, is a file nginx loads with those
// very bytes, and returns the name nginx knows it by. rt names the nginx;
// upstream is what the plan edits, to point at the file that holds it. The
// error wraps ErrNotLoaded and says what nginx loads instead and how to
// fix the plan.
func (l *Loaded) prove(rt, path, upstream string, disk []byte) (string, error) {
	var match *LoadedFile
	for i, f := range l.Files {
		// Through the engine, paths are not this machine's: compare them
		// as names, never by stat'ing local files.
		if l.viaEngine && f.Host != "" && filepath.Clean(f.Host) == filepath.Clean(path) || !l.viaEngine && sameFile(f.Host, path) {
			match = &l.Files[i]
			break
		}
	}
	var b strings.Builder
	if match != nil && l.sameAt(*match, disk) {
		return match.Name, nil
	}
	if match != nil {
		fmt.Fprintf(&b, "%s loads %s, but the bytes it reads there (%d) are not the bytes of %s (%d).\n",
			rt, match.Name, len(match.Data), path, len(disk))
		if l.Mounts != nil {
			b.WriteString("  The container's bind mount of a single file keeps the file it saw when the container started: if the file was replaced (an editor or a git checkout renames a new file over it), nginx still reads the old one.\n")
			b.WriteString("  Fix: restart the nginx container so that it mounts the file as it is now (or mount its folder instead of the file), then run the plan again.")
		} else {
			b.WriteString("  Fix: make sure nothing rewrites the file meanwhile, then run the plan again.")
		}
		return "", &notLoaded{b.String()}
	}
	fmt.Fprintf(&b, "%s does not load %s: editing it would change nothing nginx runs.\n", rt, path)
	b.WriteString("  nginx loads (nginx -T):\n")
	for _, f := range l.Files {
		switch {
		case l.Mounts == nil || f.Host == f.Name:
			fmt.Fprintf(&b, "    %s\n", f.Name)
		case f.Host == "":
			fmt.Fprintf(&b, "    %s (in the image: no mount)\n", f.Name)
		case l.viaEngine:
			fmt.Fprintf(&b, "    %s (%s on the engine's host)\n", f.Name, f.Host)
		default:
			fmt.Fprintf(&b, "    %s (this machine's %s)\n", f.Name, f.Host)
		}
	}
	if l.Mounts != nil {
		b.WriteString("  The container's mounts:\n")
		if len(l.Mounts) == 0 {
			b.WriteString("    (none)\n")
		}
		for _, m := range l.Mounts {
			fmt.Fprintf(&b, "    %s\n", m)
		}
	}
	// The file that holds the upstream is the one to point the plan at.
	var holder *LoadedFile
	for i, f := range l.Files {
		if cfg, err := ParseConfig(f.Name, f.Data); err == nil {
			if _, ok := cfg.Upstream(upstream); ok {
				holder = &l.Files[i]
				break
			}
		}
	}
	switch {
	case holder != nil && l.viaEngine:
		fmt.Fprintf(&b, "  Fix: set the nginx block's config to %q, the path in the container (plan edits it through the engine): nginx loads it, and it holds upstream %q.", holder.Name, upstream)
	case holder != nil && l.Mounts == nil:
		fmt.Fprintf(&b, "  Fix: set the nginx block's config to %q, which nginx loads and which holds upstream %q.", holder.Host, upstream)
	case holder != nil && holder.Host != "":
		fmt.Fprintf(&b, "  Fix: set the nginx block's config to %q: nginx loads it as %s, and it holds upstream %q.", holder.Host, holder.Name, upstream)
	case holder != nil:
		fmt.Fprintf(&b, "  Fix: upstream %q is in %s, which no mount brings from this machine: bind-mount the file you edit onto it (docker run -v %s:%s) and recreate the container.", upstream, holder.Name, path, holder.Name)
	case l.Mounts != nil:
		fmt.Fprintf(&b, "  Fix: bind-mount %s (or its folder) into the container where nginx includes it, or set the nginx block's config to the mounted file that holds upstream %q.", path, upstream)
	default:
		fmt.Fprintf(&b, "  Fix: set the nginx block's config to the loaded file that holds upstream %q, or set main_config to the file nginx is started with so that it includes %s.", upstream, path)
	}
	return "", &notLoaded{b.String()}
}

// This file holds the two files the reload-free backend (Dynamic) and the
// Lua module share in the state folder: UPSTREAM.state, the membership
// Nonstop writes (as a whole, through the File DynamicOptions.Open gives:
// see dynamic_file.go), and UPSTREAM.ack, what the Lua side writes back (the version every
// worker uses and the requests in flight per peer). Both are line-based
// so that the Lua side parses them with string patterns, without a JSON
// library.

package nginx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// statePeer is one server of an upstream in a state file.
type statePeer struct {
	Name   string // as written in the upstream's server line, e.g. "app1:3000"
	Addr   string // IP:port nginx connects to; "" while unknown (never sent traffic)
	Down   bool
	Weight int // 0: nginx's default, 1
	Backup bool
}

// state is the content of UPSTREAM.state.
type state struct {
	Version int
	Peers   []statePeer
}

func (s *state) peer(name string) *statePeer {
	for i := range s.Peers {
		if s.Peers[i].Name == name {
			return &s.Peers[i]
		}
	}
	return nil
}

// marshal is the text the Lua module parses (nonstop.lua, parse): its
// second line, "size N", is the file's length in bytes, so that a reader
// tells a torn file from a whole one (see dynamic_file.go).
func (s *state) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version %d\n", s.Version)
	for _, p := range s.Peers {
		addr := p.Addr
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(&b, "server %s %s %d %d %d\n", p.Name, addr, b2i(p.Down), p.Weight, b2i(p.Backup))
	}
	b.WriteString("end\n")
	return withSize(b.Bytes())
}

// withSize prefixes body with "nonstop 1\nsize N\n", N the length of the
// whole result (the size line counted).
func withSize(body []byte) []byte {
	const head = "nonstop 1\n"
	n := len(head) + len(body)
	for {
		line := fmt.Sprintf("size %d\n", n)
		if len(head)+len(line)+len(body) == n {
			return append([]byte(head+line), body...)
		}
		n = len(head) + len(line) + len(body)
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// errIncomplete is a state or ack file without its last line: written in
// place by someone else, or being written.
var errIncomplete = errors.New("incomplete file")

// parseState reads a state file's text.
func parseState(data []byte) (*state, error) {
	if !bytes.HasPrefix(data, []byte("nonstop 1\n")) || !bytes.HasSuffix(data, []byte("\nend\n")) {
		return nil, errIncomplete
	}
	s := &state{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "size":
			// Files written before the size line have none.
			if n, err := strconv.Atoi(f[1]); err != nil || n != len(data) {
				return nil, errIncomplete
			}
		case len(f) == 2 && f[0] == "version":
			v, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("bad version %q", f[1])
			}
			s.Version = v
		case len(f) == 6 && f[0] == "server":
			w, err := strconv.Atoi(f[4])
			if err != nil {
				return nil, fmt.Errorf("bad weight %q", f[4])
			}
			p := statePeer{Name: f[1], Addr: f[2], Down: f[3] == "1", Weight: w, Backup: f[5] == "1"}
			if p.Addr == "-" {
				p.Addr = ""
			}
			s.Peers = append(s.Peers, p)
		}
	}
	return s, nil
}

// ackFile is the content of UPSTREAM.ack.
type ackFile struct {
	Module   string
	Version  int
	InFlight map[string]int
}

func parseAck(data []byte) (*ackFile, error) {
	if !bytes.HasPrefix(data, []byte("nonstop-ack 1\n")) || !bytes.HasSuffix(data, []byte("\nend\n")) {
		return nil, errIncomplete
	}
	a := &ackFile{InFlight: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "module":
			a.Module = f[1]
		case len(f) == 2 && f[0] == "version":
			a.Version, _ = strconv.Atoi(f[1])
		case len(f) == 3 && f[0] == "inflight":
			n, _ := strconv.Atoi(f[2])
			a.InFlight[f[1]] = n
		}
	}
	return a, nil
}

// statePath and ackPath are the two files of upstream in dir (a folder as
// the Dynamic's FileOpener names it).
func statePath(dir, upstream string) string { return path.Join(dir, upstream+".state") }
func ackPath(dir, upstream string) string   { return path.Join(dir, upstream+".ack") }

// readState reads the state file; (nil, nil) when there is none yet.
func (d *Dynamic) readState(ctx context.Context, name string) (*state, error) {
	// Not during a write of this process: one through the engine's
	// archive API is not atomic (dynamic_file.go).
	d.wmu.Lock()
	data, err := d.readFile(ctx, name)
	d.wmu.Unlock()
	if err != nil || data == nil {
		return nil, err
	}
	s, err := parseState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// readAck reads the ack file; (nil, nil) when there is none or it is
// being replaced.
func (d *Dynamic) readAck(ctx context.Context, name string) (*ackFile, error) {
	data, err := d.readFile(ctx, name)
	if err != nil || data == nil {
		return nil, err
	}
	a, err := parseAck(data)
	if errors.Is(err, errIncomplete) {
		return nil, nil
	}
	return a, err
}

// writeState writes s as a whole through the state folder's File; the
// first write creates the file.
func (d *Dynamic) writeState(ctx context.Context, name string, s *state) error {
	f, err := d.file(ctx, name)
	if err != nil {
		return err
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return f.Write(ctx, s.marshal())
}

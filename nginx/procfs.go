package nginx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where the process table is read; tests point it elsewhere.
var procRoot = "/proc"

// procChildren returns the PIDs of pid's children. It reads
// /proc/PID/task/*/children (a few small files, microseconds), and when the
// kernel lacks that file (CONFIG_PROC_CHILDREN unset) scans every process's
// stat for its parent instead.
func procChildren(pid int) ([]int, error) {
	tasks, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "task", t.Name(), "children"))
		if os.IsNotExist(err) {
			if _, serr := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "task", t.Name())); serr == nil {
				return scanChildren(pid) // the task exists: no children file in this kernel
			}
			continue // the thread exited meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, nil
}

// scanChildren is procChildren the slow way: every process whose parent is
// pid.
func scanChildren(pid int) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", procRoot, err)
	}
	var kids []int
	for _, e := range entries {
		k, err := strconv.Atoi(e.Name())
		if err != nil || k == pid {
			continue
		}
		if pp, err := procPPID(k); err == nil && pp == pid {
			kids = append(kids, k)
		}
	}
	return kids, nil
}

// procTree is the nginx master pid and its children as Processes, read from
// /proc. Children that exit while being read are left out, as ps would.
func procTree(master int) ([]Process, error) {
	cmd, err := procCmdline(master)
	if err != nil {
		return nil, fmt.Errorf("reading master %d: %w", master, err)
	}
	ppid, err := procPPID(master)
	if err != nil {
		return nil, fmt.Errorf("reading master %d: %w", master, err)
	}
	kids, err := procChildren(master)
	if err != nil {
		return nil, fmt.Errorf("listing the children of %d: %w", master, err)
	}
	procs := make([]Process, 1, 1+len(kids))
	procs[0] = Process{PID: master, PPID: ppid, Cmd: cmd}
	for _, k := range kids {
		c, err := procCmdline(k)
		if err != nil {
			continue // exited meanwhile
		}
		procs = append(procs, Process{PID: k, PPID: master, Cmd: c})
	}
	return procs, nil
}

// procPPID reads the parent pid from /proc/PID/stat. The command name field
// can contain spaces and parentheses, so parse after the last ')'.
func procPPID(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected %s/%d/stat", procRoot, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("unexpected %s/%d/stat", procRoot, pid)
	}
	return strconv.Atoi(f[1])
}

// procCmdline reads the process title; nginx overwrites argv with it
// ("nginx: worker process"), padding with NULs.
func procCmdline(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", err
	}
	b = bytes.ReplaceAll(b, []byte{0}, []byte{' '})
	return strings.TrimSpace(string(b)), nil
}

// procInCgroup reports whether pid's cgroup path (as this process's cgroup
// namespace sees it) names the container id: the proof that a PID the
// engine reported is the same process in this machine's /proc, and not a
// stranger in a PID namespace that merely shares the number (a remote
// engine, Docker Desktop's VM).
func procInCgroup(pid int, id string) bool {
	if len(id) < 12 {
		return false
	}
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	return err == nil && bytes.Contains(b, []byte(id))
}

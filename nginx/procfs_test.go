package nginx

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// fakeProc writes a /proc-like tree: pid -> (ppid, title, cgroup).
type fakeProcess struct {
	ppid   int
	title  string
	cgroup string
}

func fakeProc(t *testing.T, procs map[int]fakeProcess, childrenFiles bool) {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		task := filepath.Join(dir, "task", strconv.Itoa(pid))
		if err := os.MkdirAll(task, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(name, s string) {
			if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// The comm field holds spaces and a ')' to exercise the parser.
		write(filepath.Join(dir, "stat"), strconv.Itoa(pid)+" (nginx: a) b) S "+strconv.Itoa(p.ppid)+" 1 1 0 -1\n")
		write(filepath.Join(dir, "cmdline"), p.title+"\x00\x00\x00")
		write(filepath.Join(dir, "cgroup"), p.cgroup)
		if childrenFiles {
			var kids string
			for k, q := range procs {
				if q.ppid == pid {
					kids += strconv.Itoa(k) + " "
				}
			}
			write(filepath.Join(task, "children"), kids)
		}
	}
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
}

func TestProcTree(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	procs := map[int]fakeProcess{
		100: {ppid: 90, title: "nginx: master process nginx -g daemon off;", cgroup: "0::/system.slice/docker-" + id + ".scope\n"},
		101: {ppid: 100, title: "nginx: worker process"},
		102: {ppid: 100, title: "nginx: worker process is shutting down"},
		200: {ppid: 1, title: "unrelated"},
	}
	for _, children := range []bool{true, false} {
		t.Run("childrenFile="+strconv.FormatBool(children), func(t *testing.T) {
			fakeProc(t, procs, children)
			got, err := procTree(100)
			if err != nil {
				t.Fatal(err)
			}
			m, kids, ok := masterOf(got)
			if !ok || m.PID != 100 || m.PPID != 90 || m.Cmd != procs[100].title {
				t.Fatalf("master = %+v (ok %v)", m, ok)
			}
			var pids []int
			for _, k := range kids {
				pids = append(pids, k.PID)
				if k.Cmd != procs[k.PID].title {
					t.Errorf("title of %d = %q, want %q", k.PID, k.Cmd, procs[k.PID].title)
				}
			}
			slices.Sort(pids)
			if !slices.Equal(pids, []int{101, 102}) {
				t.Errorf("children = %v, want [101 102]", pids)
			}
			if !procInCgroup(100, id) {
				t.Error("the master is in the container's cgroup")
			}
			if procInCgroup(100, "fedcba9876543210") || procInCgroup(101, id) || procInCgroup(100, "") {
				t.Error("procInCgroup matched a cgroup that does not name the container")
			}
			if _, err := procTree(999); err == nil {
				t.Error("procTree of a missing pid succeeded")
			}
		})
	}
}

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

func fakeProc(t *testing.T, procs map[int]fakeProcess, childrenFiles bool) procFS {
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
	return procFS(root)
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
			fs := fakeProc(t, procs, children)
			got, err := fs.tree(100)
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
			if !fs.inCgroup(100, id) {
				t.Error("the master is in the container's cgroup")
			}
			if fs.inCgroup(100, "fedcba9876543210") || fs.inCgroup(101, id) || fs.inCgroup(100, "") {
				t.Error("inCgroup matched a cgroup that does not name the container")
			}
			if _, err := fs.tree(999); err == nil {
				t.Error("tree of a missing pid succeeded")
			}
		})
	}
}

func TestProcConns(t *testing.T) {
	fs := fakeProc(t, map[int]fakeProcess{7: {ppid: 1, title: "nginx: worker process is shutting down"}}, true)
	dir := filepath.Join(string(fs), "7")
	for _, d := range []string{"fd", "net"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for fd, target := range map[string]string{"3": "socket:[1001]", "4": "socket:[1002]", "5": "/var/log/nginx/error.log", "6": "socket:[1003]", "7": "socket:[2002]"} {
		if err := os.Symlink(target, filepath.Join(dir, "fd", fd)); err != nil {
			t.Fatal(err)
		}
	}
	const hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tcp := hdr +
		// 172.18.0.4:80 <- 172.18.0.1:40000, established, ours
		"   0: 040012AC:0050 010012AC:9C40 01 00000000:00000000 00:00000000 00000000   101        0 1001 1 0 20 4 30 10 -1\n" +
		// 172.18.0.4:51000 -> 172.18.0.3:3000, established, ours
		"   1: 040012AC:C738 030012AC:0BB8 01 00000000:00000000 00:00000000 00000000   101        0 1002 1 0 20 4 30 10 -1\n" +
		// listening socket of ours (st 0A): not a connection
		"   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0 20 4 30 10 -1\n" +
		// someone else's connection
		"   3: 040012AC:0050 050012AC:9C41 01 00000000:00000000 00:00000000 00000000   101        0 9999 1 0 20 4 30 10 -1\n"
	tcp6 := hdr +
		// [::1]:8080 <- [::1]:50000
		"   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000   101        0 2002 1 0 20 4 30 10 -1\n"
	for name, body := range map[string]string{"tcp": tcp, "tcp6": tcp6} {
		if err := os.WriteFile(filepath.Join(dir, "net", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The master (6) listens on :80 and :8080.
	mdir := filepath.Join(string(fs), "6")
	for _, d := range []string{"fd", "net"} {
		if err := os.MkdirAll(filepath.Join(mdir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("socket:[500]", filepath.Join(mdir, "fd", "6")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("socket:[501]", filepath.Join(mdir, "fd", "7")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mdir, "net", "tcp"), []byte(hdr+
		"   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 500 1 0 20 4 30 10 -1\n"+
		"   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 501 1 0 20 4 30 10 -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := fs.connsOf(6, []int{7, 8}) // 8 does not exist: skipped
	var s []string
	for _, c := range got {
		if c.PID != 7 {
			t.Errorf("conn %v of pid %d", c, c.PID)
		}
		s = append(s, c.String())
	}
	want := []string{"172.18.0.4:80 ↔ 172.18.0.1:40000", "172.18.0.4:51000 ↔ 172.18.0.3:3000", "[::1]:8080 ↔ [::1]:50000"}
	if !slices.Equal(s, want) {
		t.Fatalf("connections:\n got %q\nwant %q", s, want)
	}
	if !got[0].Inbound || got[1].Inbound || !got[2].Inbound {
		t.Errorf("inbound flags %v %v %v, want true false true", got[0].Inbound, got[1].Inbound, got[2].Inbound)
	}
	got[1].RemoteName = "app2"
	got = append(got, Conn{Local: "172.18.0.4:51001", Remote: "172.18.0.3:3000", RemoteName: "app2"})
	const wantSum = "2 client connection(s) (from 172.18.0.1, ::1) and 2 connection(s) to upstreams (app2 172.18.0.3:3000 ×2)"
	if sum := Summary(got); sum != wantSum {
		t.Errorf("Summary:\n got %q\nwant %q", sum, wantSum)
	}
	for _, bad := range []string{"", "0100007F", "0100007G:0050", "0100007F:XYZ", "01007F:0050"} {
		if _, err := hexAddr(bad); err == nil {
			t.Errorf("hexAddr(%q) succeeded", bad)
		}
	}
}

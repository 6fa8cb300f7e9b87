// This file builds the offline nginx image from Debian's binary, the
// libraries ldd lists, and the files nginx needs at start.
package testimage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/client"
)

// NginxPath is where the host's nginx must be: Debian's nginx-light (or
// nginx-core/-full) package. Its build paths (/etc/nginx, /var/lib/nginx,
// /run/nginx.pid) are the image's layout.
const NginxPath = "/usr/sbin/nginx"

var (
	nginxMu     sync.Mutex
	nginxRef    string
	nginxLuaRef string
)

// Nginx builds an nginx image from the host's Debian nginx: /usr/sbin/nginx,
// every library `ldd` lists and the loader, libnss_files (and libnss_dns),
// /etc/nginx/mime.types, a minimal /etc/passwd and /etc/group with an `nginx`
// user and group, /etc/nsswitch.conf, the empty directories nginx needs
// (/var/log/nginx, /var/lib/nginx/{body,proxy,fastcgi,uwsgi,scgi}, /run,
// /var/run -> /run, /etc/nginx/conf.d, /tmp) and a default
// /etc/nginx/nginx.conf that answers 200 on port 80 (tests bind-mount their
// own over it). ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin,
// CMD ["nginx","-g","daemon off;"], STOPSIGNAL SIGQUIT, EXPOSE 80.
//
// /var/log/nginx/error.log is a symlink to /dev/stderr, as in the official
// image, so `docker logs` shows nginx's errors; access.log is a plain file.
//
// The tag is "nonstop-nginx:<first 12 hex of sha256 of the build context>",
// so a host nginx upgrade gives a new image. There is no shell in the image:
// control nginx with `nginx -t`, `nginx -s reload` (exec) or signals.
func Nginx(ctx context.Context, cli client.APIClient) (ref string, err error) {
	return buildNginx(ctx, cli, false)
}

// buildNginx builds (once per process and content) the nginx image, with
// Debian's Lua modules when lua is set (NginxLua).
func buildNginx(ctx context.Context, cli client.APIClient, lua bool) (ref string, err error) {
	nginxMu.Lock()
	defer nginxMu.Unlock()
	cached := &nginxRef
	if lua {
		cached = &nginxLuaRef
	}
	if *cached != "" {
		if ok, err := exists(ctx, cli, *cached); err != nil {
			return "", err
		} else if ok {
			return *cached, nil
		}
	}
	entries, err := nginxRootfs(ctx)
	if err != nil {
		return "", err
	}
	repo := "nonstop-nginx:"
	if lua {
		repo = "nonstop-nginx-lua:"
		if entries, err = addLua(ctx, entries); err != nil {
			return "", err
		}
	}
	entries = append(entries, file("Dockerfile", 0o644, dockerfile(
		"FROM scratch",
		"COPY rootfs/ /",
		"ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"EXPOSE 80",
		"STOPSIGNAL SIGQUIT",
		"LABEL "+LabelKey+"=nginx",
		`CMD ["nginx", "-g", "daemon off;"]`,
	)))
	tarball, err := contextTar(entries)
	if err != nil {
		return "", err
	}
	ref = repo + shortHash(tarball)
	if ok, err := exists(ctx, cli, ref); err != nil {
		return "", err
	} else if !ok {
		if err := buildImage(ctx, cli, ref, tarball); err != nil {
			return "", err
		}
	}
	*cached = ref
	return ref, nil
}

// defaultNginxConf is the image's own /etc/nginx/nginx.conf, in the seed's
// shape, for running the image without a mounted config.
const defaultNginxConf = `user nginx;
worker_processes 1;

error_log /var/log/nginx/error.log warn;
pid /var/run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;

    server {
        listen 80;
        location / {
            return 200 "nonstop-nginx\n";
        }
    }

    include /etc/nginx/conf.d/*.conf;
}
`

// nginxRootfs collects the image's files under rootfs/.
func nginxRootfs(ctx context.Context) ([]entry, error) {
	if _, err := os.Stat(NginxPath); err != nil {
		return nil, fmt.Errorf("nginx image: %s not found: install Debian's nginx on the host (apt-get install -y nginx-light): %w", NginxPath, err)
	}
	out, err := exec.CommandContext(ctx, "ldd", NginxPath).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("nginx image: ldd %s: %w", NginxPath, err)
	}
	libs, err := parseLdd(out)
	if err != nil {
		return nil, fmt.Errorf("nginx image: ldd %s: %w", NginxPath, err)
	}

	var es []entry
	seenDir := map[string]bool{}
	// addDirs adds the parent directories of p (slash path without leading /).
	addDirs := func(p string) {
		for d := filepath.Dir(p); d != "." && d != "/"; d = filepath.Dir(d) {
			if !seenDir[d] {
				seenDir[d] = true
				es = append(es, dir("rootfs/"+d, 0o755))
			}
		}
	}
	// copyFile puts the content of host path src (symlinks followed) at dst.
	copyFile := func(dst, src string, mode int64) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("nginx image: %w", err)
		}
		dst = strings.TrimPrefix(dst, "/")
		addDirs(dst)
		es = append(es, file("rootfs/"+dst, mode, b))
		return nil
	}
	addFile := func(dst string, mode int64, data string) {
		dst = strings.TrimPrefix(dst, "/")
		addDirs(dst)
		es = append(es, file("rootfs/"+dst, mode, []byte(data)))
	}

	if err := copyFile(NginxPath, NginxPath, 0o755); err != nil {
		return nil, err
	}
	libDirs := map[string]bool{}
	for _, l := range libs {
		if err := copyFile(l, l, 0o755); err != nil {
			return nil, err
		}
		libDirs[filepath.Dir(l)] = true
	}
	// glibc loads the NSS modules with dlopen, so ldd does not list them. Since
	// glibc 2.34 files and dns are built into libc.so.6 and these are stubs,
	// but an older glibc needs them for `user nginx;` and for resolving hosts.
	found := false
	for d := range libDirs {
		for _, name := range []string{"libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"} {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil && !contains(libs, p) {
				if err := copyFile(p, p, 0o755); err != nil {
					return nil, err
				}
				found = found || name == "libnss_files.so.2"
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("nginx image: libnss_files.so.2 not found beside the libraries ldd %s lists", NginxPath)
	}
	if err := copyFile("/etc/nginx/mime.types", "/etc/nginx/mime.types", 0o644); err != nil {
		return nil, fmt.Errorf("%w (is Debian's nginx installed? apt-get install -y nginx-light)", err)
	}
	addFile("/etc/nginx/nginx.conf", 0o644, defaultNginxConf)
	addFile("/etc/passwd", 0o644, "root:x:0:0:root:/root:/sbin/nologin\n"+
		"nginx:x:101:101:nginx:/nonexistent:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")
	addFile("/etc/group", 0o644, "root:x:0:\nnginx:x:101:\nnogroup:x:65534:\n")
	addFile("/etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n")

	for _, d := range []string{
		"etc/nginx/conf.d", "var/log/nginx", "var/lib/nginx/body", "var/lib/nginx/proxy",
		"var/lib/nginx/fastcgi", "var/lib/nginx/uwsgi", "var/lib/nginx/scgi", "run/lock",
	} {
		addDirs(d + "/x")
	}
	es = append(es,
		dir("rootfs", 0o755),
		dir("rootfs/tmp", 0o1777), // tar mode bits: sticky is 01000
		symlink("rootfs/var/run", "/run"),
		symlink("rootfs/var/lock", "/run/lock"),
		symlink("rootfs/var/log/nginx/error.log", "/dev/stderr"),
	)
	return es, nil
}

// parseLdd returns the absolute library paths in ldd's output, the loader
// included; linux-vdso (no file) is skipped. A "not found" library is an error.
func parseLdd(out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.Contains(line, "statically linked") {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("library %s", line)
		}
		var p string
		if _, after, ok := strings.Cut(line, "=>"); ok {
			p = strings.Fields(after)[0] // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)"
		} else {
			p = strings.Fields(line)[0] // "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)"
		}
		if filepath.IsAbs(p) && !contains(libs, p) {
			libs = append(libs, p)
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("no libraries in output %q", out)
	}
	return libs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

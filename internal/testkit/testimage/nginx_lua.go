// This file adds Debian's Lua modules to the nginx image (NginxLua): what
// the reload-free backend (nginx block mode = "dynamic") needs in nginx.
package testimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/docker/client"
)

// LuaModules are the shared objects of Debian's libnginx-mod-http-lua and
// the NDK it needs, at the same paths in the image; a config loads them
// with load_module.
var LuaModules = []string{
	"/usr/lib/nginx/modules/ndk_http_module.so",
	"/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

// luaLibDir holds lua-resty-core and lua-resty-lrucache (lua-nginx-module
// refuses to start without resty.core), on LuaJIT's default package.path.
const luaLibDir = "/usr/share/lua/5.1"

// NginxLua builds the Nginx image plus Debian's Lua modules (LuaModules,
// the libraries `ldd` lists for them, such as libluajit) and the Lua
// libraries under /usr/share/lua/5.1, tagged
// "nonstop-nginx-lua:<12 hex>". The image's default config loads no
// module: a test's config starts with `load_module` for each of
// LuaModules. Fails with the package to install when the host lacks them
// (apt-get install -y libnginx-mod-http-lua).
func NginxLua(ctx context.Context, cli client.APIClient) (string, error) {
	return buildNginx(ctx, cli, true)
}

// addLua appends the Lua modules, their libraries and the Lua libraries
// to entries (the nginx rootfs), skipping what is there already.
func addLua(ctx context.Context, entries []entry) ([]entry, error) {
	have := map[string]bool{}
	for _, e := range entries {
		have[e.name] = true
	}
	add := func(dst string, mode int64, data []byte) {
		dst = strings.TrimPrefix(dst, "/")
		for d := filepath.Dir(dst); d != "." && d != "/"; d = filepath.Dir(d) {
			if !have["rootfs/"+d] {
				have["rootfs/"+d] = true
				entries = append(entries, dir("rootfs/"+d, 0o755))
			}
		}
		if !have["rootfs/"+dst] {
			have["rootfs/"+dst] = true
			entries = append(entries, file("rootfs/"+dst, mode, data))
		}
	}
	copyFile := func(p string, mode int64) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("nginx-lua image: %w (apt-get install -y libnginx-mod-http-lua)", err)
		}
		add(p, mode, b)
		return nil
	}
	for _, m := range LuaModules {
		if err := copyFile(m, 0o644); err != nil {
			return nil, err
		}
		out, err := exec.CommandContext(ctx, "ldd", m).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			return nil, fmt.Errorf("nginx-lua image: ldd %s: %w", m, err)
		}
		libs, err := parseLdd(out)
		if err != nil {
			return nil, fmt.Errorf("nginx-lua image: ldd %s: %w", m, err)
		}
		for _, l := range libs {
			if err := copyFile(l, 0o755); err != nil {
				return nil, err
			}
		}
	}
	err := filepath.WalkDir(luaLibDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return copyFile(p, 0o644) // symlinks followed: the image gets the content
	})
	if err != nil {
		return nil, fmt.Errorf("nginx-lua image: %s: %w (apt-get install -y lua-resty-core)", luaLibDir, err)
	}
	return entries, nil
}

package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// luaModules are the shared objects of Debian's libnginx-mod-http-lua (and
// the NDK it needs) that the Lua fixtures load.
var luaModules = []string{
	"/usr/lib/nginx/modules/ndk_http_module.so",
	"/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

// luaNginx returns the nginx binary once it is known that nginx can load
// lua-nginx-module; the test is skipped otherwise, or failed under CI=true.
func luaNginx(t *testing.T) string {
	t.Helper()
	bin := testenv.NginxBinary(t)
	for _, m := range luaModules {
		if _, err := os.Stat(m); err != nil {
			if testenv.InCI() {
				t.Fatalf("CI=true but lua-nginx-module is missing: %v (apt-get install -y libnginx-mod-http-lua)", err)
			}
			t.Skipf("lua-nginx-module is missing: %v (apt-get install -y libnginx-mod-http-lua)", err)
		}
	}
	return bin
}

// nginxT runs `nginx -t` on the config file conf with a fresh prefix
// directory (the fixtures' relative paths point into it) and reports whether
// nginx accepted it, with nginx's output.
func nginxT(t *testing.T, bin, conf string) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-q", "-p", dir+"/", "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && (ctx.Err() != nil || !errors.As(err, &exit)) {
		t.Fatalf("running nginx -t: %v\n%s", err, out)
	}
	return err == nil, string(out)
}

// writeConf writes src into a temporary file and returns its path.
func writeConf(t *testing.T, src []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "nginx.conf")
	if err := os.WriteFile(name, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestLuaFixturesAgainstNginx: nginx with lua-nginx-module accepts every
// fixture the parser accepts, also after a server was marked down in it,
// and refuses the ones the parser refuses.
func TestLuaFixturesAgainstNginx(t *testing.T) {
	bin := luaNginx(t)
	for _, fx := range luaFixtures {
		t.Run(fx.file, func(t *testing.T) {
			name, src := readLuaFixture(t, fx.file)
			abs, err := filepath.Abs(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg, perr := ParseConfig(name, src)
			ok, out := nginxT(t, bin, abs)
			if ok != (perr == nil) || ok != (fx.err == "") {
				t.Fatalf("nginx accepts: %v, parser error: %v, want error %q\nnginx: %s", ok, perr, fx.err, out)
			}
			if !ok {
				t.Logf("both refuse; parser: %v; nginx: %s", perr, out)
				return
			}
			u := cfg.Upstreams()[len(cfg.Upstreams())-1]
			s := u.Servers[len(u.Servers)-1]
			down, err := SetDown(src, u.Name, s.Address, true)
			if err != nil {
				t.Fatal(err)
			}
			if ok, out := nginxT(t, bin, writeConf(t, down)); !ok {
				t.Fatalf("nginx refuses the fixture with %s/%s down: %s", u.Name, s.Address, out)
			}
		})
	}
}

// luaCaseConf puts a luaCases source into a complete config, so that nginx
// reads the rest of the file after the Lua block as nginx does.
func luaCaseConf(src string) string {
	return fmt.Sprintf(`load_module %s;
load_module %s;
pid nginx.pid;
error_log error.log;
events {}
http {
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:18090;
        location / {
            %s%s
        }
    }
}
`, luaModules[0], luaModules[1], luaPrefix, src)
}

// TestLuaCasesAgainstNginx: for every lexer case, the parser and nginx agree
// on accepting the case inside a complete config, and that verdict is the
// one the case expects (an error case refused, a body case accepted). An
// empty body is not a syntax error: only nginx's handler refuses it.
func TestLuaCasesAgainstNginx(t *testing.T) {
	bin := luaNginx(t)
	for _, tt := range luaCases {
		t.Run(tt.name, func(t *testing.T) {
			src := luaCaseConf(tt.src)
			_, perr := ParseConfig("case.conf", []byte(src))
			ok, out := nginxT(t, bin, writeConf(t, []byte(src)))
			if tt.nginxErr != "" {
				if ok || perr != nil || !strings.Contains(out, tt.nginxErr) {
					t.Fatalf("nginx accepts: %v, parser error: %v; want only nginx to refuse with %q\nnginx: %s", ok, perr, tt.nginxErr, out)
				}
				return
			}
			if ok != (perr == nil) || ok != (tt.err == "") {
				t.Fatalf("nginx accepts: %v, parser error: %v, case error %q\nnginx: %s", ok, perr, tt.err, out)
			}
		})
	}
}

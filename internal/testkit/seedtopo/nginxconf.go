// This file writes the seed's nginx.conf for the container and the host form.
package seedtopo

import (
	"fmt"
	"path/filepath"
	"strings"
)

// confParams are the parts of the seed's nginx.conf that differ between the
// container setup and nginx on the host.
type confParams struct {
	User      string   // "nginx" in the container; "" on the host (no `user` line)
	ErrorLog  string   // error_log path
	PID       string   // pid path
	TempDir   string   // host mode: *_temp_path under it; "" keeps nginx's built-in paths
	Servers   []string // upstream `server` addresses, e.g. "app1:3000"
	Listen    string   // "80" or "127.0.0.1:PORT"
	AccessLog string
	Include   string // the trailing include glob
}

// containerConf is the seed's nginx.conf with one server line per app; for
// app1 and app2 it is byte for byte the seed's plans/proxy/nginx.conf.
func containerConf(services []string) string {
	servers := make([]string, len(services))
	for i, s := range services {
		servers[i] = s + ":3000"
	}
	return nginxConf(confParams{
		User:      "nginx",
		ErrorLog:  "/var/log/nginx/error.log",
		PID:       "/var/run/nginx.pid",
		Servers:   servers,
		Listen:    "80",
		AccessLog: "/var/log/nginx/access.log",
		Include:   "/etc/nginx/conf.d/*.conf",
	})
}

// hostConf is the seed's nginx.conf for an nginx on the host whose files all
// live in dir: pid, logs, temp files and conf.d; no `user` directive.
func hostConf(dir, listen string, servers []string) string {
	return nginxConf(confParams{
		ErrorLog:  filepath.Join(dir, "logs", "error.log"),
		PID:       filepath.Join(dir, "nginx.pid"),
		TempDir:   filepath.Join(dir, "tmp"),
		Servers:   servers,
		Listen:    listen,
		AccessLog: filepath.Join(dir, "logs", "access.log"),
		Include:   filepath.Join(dir, "conf.d", "*.conf"),
	})
}

// nginxConf renders the seed's nginx.conf (plans/proxy/nginx.conf) with p.
func nginxConf(p confParams) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if p.User != "" {
		w("user %s;\n", p.User)
	}
	w("worker_processes 1;\n\n")
	w("error_log %s warn;\n", p.ErrorLog)
	w("pid %s;\n\n", p.PID)
	w("events {\n    worker_connections 1024;\n}\n\n")
	w("http {\n")
	w("    include /etc/nginx/mime.types;\n")
	w("    default_type application/octet-stream;\n")
	if p.TempDir != "" {
		w("\n")
		for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			w("    %s_temp_path %s;\n", k, filepath.Join(p.TempDir, k))
		}
	}
	w("\n    # load balancing\n    upstream apps {\n")
	for _, s := range p.Servers {
		w("        server %s;\n", s)
	}
	w("    }\n\n")
	w(`    server {
        listen %s;
        server_name localhost;

        location / {
            # proxy pass
            proxy_pass http://apps;
            proxy_http_version 1.1;
            proxy_redirect off;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection 'upgrade';
            proxy_set_header Host $host;
            proxy_cache_bypass $http_upgrade;
        }
    }

    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
`, p.Listen)
	w("    access_log %s main;\n\n", p.AccessLog)
	w("    sendfile on;\n    keepalive_timeout 65;\n\n")
	w("    include %s;\n}\n", p.Include)
	return b.String()
}

# nginx on the host: pid_file instead of container.

nginx "edge" {
  pid_file      = "/run/nginx.pid"
  binary        = "/usr/sbin/nginx"
  main_config   = "/etc/nginx/nginx.conf"
  config        = "/etc/nginx/conf.d/upstreams.conf"
  upstream      = "backend"
  drain_timeout = "2m"
}

# A second nginx, host form with defaults only.
nginx "internal" {
  pid_file = "/run/nginx-internal.pid"
  config   = "internal.conf"
  upstream = "internal"
}

step "drain" "api" {
  nginx         = nginx.edge
  server        = "10.0.0.5:8080"
  drain_timeout = "500ms"
}

step "drain" "api_internal" {
  nginx  = nginx.internal
  server = "10.0.0.5:9090"
}

step "restore" "api" {
  nginx      = nginx.edge
  server     = "10.0.0.5:8080"
  depends_on = [step.drain.api, step.drain.api_internal]
}

step "restore" "api_internal" {
  nginx      = nginx.internal
  server     = "10.0.0.5:9090"
  depends_on = [step.drain.api_internal]
}

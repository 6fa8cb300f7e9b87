# Shared state is kept in an nginx container; a host nginx keeps local state.

plan {
  state = nginx.proxy # error: Shared state needs an nginx in a container; detail: remove state
}

nginx "proxy" {
  pid_file = "/run/nginx.pid"
  config   = "nginx.conf"
  upstream = "apps"
}

nginx "lb" {
  container = "lb"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}

step "drain" "app" {
  nginx  = nginx.proxy
  server = "app:3000"
}

# Where the plan's state lives: "local", or an nginx in a container.

plan {
  name       = "web"
  state      = docker.remote # error: Invalid state; detail: nginx.NAME
  state_path = "relative"
}

docker "remote" {
  host = "unix:///var/run/docker.sock"
}

nginx "proxy" {
  pid_file = "/run/nginx.pid"
  config   = "nginx.conf"
  upstream = "apps"
}

step "drain" "app" {
  nginx  = nginx.proxy
  server = "app:3000"
}

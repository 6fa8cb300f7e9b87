# nginx in a container, on a named Docker engine.

docker "remote" {
  host = "tcp://10.0.0.9:2376"
}

nginx "proxy" {
  container     = "edge-nginx"
  binary        = "/usr/local/sbin/nginx"
  config        = "proxy/nginx.conf"
  upstream      = "apps"
  drain_timeout = "45s"
  engine        = docker.remote
}

step "drain" "web" {
  nginx  = nginx.proxy
  server = "web:8080"
}

step "restore" "web" {
  nginx      = nginx.proxy
  server     = "web:8080"
  depends_on = [step.drain.web]
}

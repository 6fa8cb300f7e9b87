# Every step type with every attribute it takes.

plan {
  name        = "all-step-types"
  description = "Each step type, fully specified"
  on_failure  = "stop"
}

docker "local" {
  host            = "unix:///var/run/docker.sock"
  compose_project = "shop"
}

docker "other" {
  host = "tcp://127.0.0.1:2375"
}

nginx "proxy" {
  container     = "nginx"
  config        = "proxy/nginx.conf"
  upstream      = "apps"
  drain_timeout = "10s"
  engine        = docker.local
}

step "drain" "cart" {
  nginx         = nginx.proxy
  server        = "cart:3000"
  drain_timeout = "20s"
  timeout       = "1m"
}

step "deploy" "cart" {
  container  = "cart"
  image      = "shop/cart@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  env        = { MESSAGE = "cart,v2", EMPTY = "" }
  pull       = "never"
  engine     = docker.other
  timeout    = "10m"
  depends_on = [step.drain.cart]
}

step "health_check" "cart" {
  container         = "cart"
  engine            = docker.other
  interval          = "250ms"
  healthy_threshold = 3
  start_period      = "5s"
  timeout           = "90s"
  http {
    port           = 3000
    path           = "/healthz"
    method         = "HEAD"
    expect_status  = 204
    expect_body    = "ok"
    expect_headers = { "Content-Type" = "text/plain" }
    network        = "shop_default"
    timeout        = "1500ms"
  }
  depends_on = [step.deploy.cart]
}

step "restore" "cart" {
  nginx      = nginx.proxy
  server     = "cart:3000"
  timeout    = "45s"
  depends_on = [step.health_check.cart]
}

# One replica behind nginx, replaced without a moment with no server:
# start-first. The new container starts next to the old one (both answer
# to the service name, but nginx keeps sending to the old one, which it
# resolved at its last reload); once the new one is healthy, the switch
# sends the server's requests to it through a temporary line with its
# address, waits for the old one's requests to finish, stops it gracefully,
# and puts the server line back as it was.
#
# A drain would be an outage here: with one server, nothing would answer
# while it is out (preflight refuses that plan).
#
#   plan show -var image=myapp:v2 plans/single-replica.hcl

plan {
  name        = "single-replica"
  description = "app1 replaced start-first: new container, health check, switch"
}

variable "image" {
  type    = string
  default = "bithavoc/hello-world-env"
}

variable "version" {
  type    = string
  default = "v2"
}

variable "compose_project" {
  type    = string
  default = "docker-non-stop-deploy"
}

variable "nginx_container" {
  type    = string
  default = "nginx"
}

docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container = var.nginx_container
  config    = "proxy/nginx.conf"
  upstream  = "apps"
}

step "deploy" "app1" {
  container = "app1"
  image     = var.image
  env       = { MESSAGE = "app1,${var.version}" }
  strategy  = "start-first"
}

step "health_check" "app1" {
  container = "app1"
  http {
    port        = 3000
    expect_body = "app1,${var.version}"
  }
  interval          = "200ms"
  healthy_threshold = 2
  timeout           = "30s"
  depends_on        = [step.deploy.app1]
}

step "switch" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  container  = "app1"
  depends_on = [step.health_check.app1]
}

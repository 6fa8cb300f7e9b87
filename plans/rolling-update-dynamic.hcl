# The seed's rolling update with the reload-free backend (docs/dynamic.md):
# the same rollout as rolling-update-rollout.hcl, but nginx never reloads
# and nginx.conf is never edited. Membership goes through the Lua balancer
# of proxy-dynamic/nginx.conf; drains wait until the drained app has no
# request in flight.
#
#   plan nginx-snippet -upstream apps -dir /etc/nginx/nonstop   (once, into nginx.conf)
#   plan apply plans/rolling-update-dynamic.hcl

plan {
  name        = "rolling-update-dynamic"
  description = "Roll app1 and app2 to v2 behind nginx, one at a time, without reloading nginx"
}

variable "version" {
  type    = string
  default = "v2"
}

variable "image" {
  type    = string
  default = "bithavoc/hello-world-env"
}

variable "compose_project" {
  type    = string
  default = "docker-non-stop-deploy"
}

variable "nginx_container" {
  type    = string
  default = "nginx"
}

locals {
  apps = ["app2", "app1"]
}

docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container     = var.nginx_container
  config        = "proxy-dynamic/nginx.conf" # bind-mounted to /etc/nginx/nginx.conf
  upstream      = "apps"
  mode          = "dynamic"
  drain_timeout = "30s"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = local.apps
  batch_size = 1
  server     = "${target}:3000"

  deploy {
    image = var.image
    env   = { MESSAGE = "${target},${var.version}" }
  }

  health_check {
    http {
      port        = 3000
      expect_body = "${target},${var.version}"
    }
    interval          = "200ms"
    timeout           = "30s"
    healthy_threshold = 2
  }
}

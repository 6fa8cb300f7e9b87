# The seed's rolling update with the rollout block: the same eight steps as
# rolling-update.hcl, without the copy-paste. Targets roll in the order
# given, batch_size at a time.

plan {
  name        = "rolling-update-rollout"
  description = "Roll app1 and app2 to v2 behind nginx, one at a time"
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
  config        = "proxy/nginx.conf"
  upstream      = "apps"
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

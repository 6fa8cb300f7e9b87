# Blue/green on the seed topology with two colours: app1 and app2 are blue,
# app3 and app4 green; nginx.conf marks the idle colour's lines `down`.
# Each apply deploys the idle colour, checks it, and cuts over to it in one
# reload; the previous colour keeps running, so `plan rollback` flips back
# in one reload, starting nothing. Which colour is live is read from nginx.
#
#   plan apply -dry-run plans/blue-green.hcl   # live: blue → deploying green
#   plan apply          plans/blue-green.hcl
#   plan rollback       plans/blue-green.hcl   # traffic back on the previous colour

plan {
  name        = "blue-green"
  description = "Deploy the idle colour and cut over to it in one reload"
}

variable "version" {
  type        = string
  default     = "v2"
  description = "The version to deploy; the apps print it in every answer."
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

docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container     = var.nginx_container
  config        = "proxy/nginx.conf"
  upstream      = "apps"
  drain_timeout = "30s"
}

blue_green "apps" {
  nginx = nginx.proxy

  blue {
    targets = ["app1", "app2"]
    server  = "${target}:3000"
  }

  green {
    targets = ["app3", "app4"]
    server  = "${target}:3000"
  }

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

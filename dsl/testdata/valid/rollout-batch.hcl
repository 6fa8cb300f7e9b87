# A rollout two targets at a time, with every phase block and every
# attribute a phase may set.

variable "version" {
  type    = string
  default = "v3"
}

locals {
  apps = ["app1", "app2", "app3", "app4", "app5"]
}

docker "local" {}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "migrations" {
  container = "migrate"
  image     = "example/migrate:${var.version}"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = local.apps
  batch_size = 2
  server     = "${target}:3000"
  container  = "svc-${target}"
  depends_on = [step.deploy.migrations]

  drain {
    drain_timeout = "15s"
    timeout       = "30s"
  }

  deploy {
    image   = "example/app:${var.version}"
    env     = { MESSAGE = "${target},${var.version}" }
    pull    = "missing"
    engine  = docker.local
    timeout = "3m"
  }

  health_check {
    http {
      port        = 3000
      expect_body = "${target},${var.version}"
    }
    interval          = "500ms"
    healthy_threshold = 2
    timeout           = "45s"
  }

  restore {
    timeout = "20s"
  }
}

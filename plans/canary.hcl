# A canary over the seed's two apps: app2 gets the new version first and
# only a tenth of the traffic while it is watched through nginx; then the
# weights even out and app1 follows as in a rolling update.
#
#   plan show plans/canary.hcl

plan {
  name        = "canary"
  description = "app2 on v2 with 10% of traffic, watched, then everything on v2"
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

docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container = var.nginx_container
  config    = "proxy/nginx.conf"
  upstream  = "apps"
}

# --- the canary: app2 on the new version, with a small share ---------------

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:3000"
}

step "deploy" "app2" {
  container  = "app2"
  image      = var.image
  env        = { MESSAGE = "app2,${var.version}" }
  depends_on = [step.drain.app2]
}

step "health_check" "app2" {
  container = "app2"
  http {
    port        = 3000
    expect_body = "app2,${var.version}"
  }
  interval          = "200ms"
  healthy_threshold = 2
  timeout           = "30s"
  depends_on        = [step.deploy.app2]
}

# app1 weighs 9 before app2 comes back: app2 gets 1 request in 10.
step "weight" "app1_major" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 9
  depends_on = [step.health_check.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.weight.app1_major]
}

# Watch the service through nginx for a while: 10 good answers in a row.
step "health_check" "canary" {
  container = "app2"
  nginx     = nginx.proxy
  http {
    port      = 80
    via_nginx = true
  }
  interval          = "500ms"
  healthy_threshold = 10
  timeout           = "60s"
  depends_on        = [step.restore.app2]
}

step "weight" "app1_even" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 1
  depends_on = [step.health_check.canary]
}

# --- then app1, as in the rolling update ------------------------------------

step "drain" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.weight.app1_even]
}

step "deploy" "app1" {
  container  = "app1"
  image      = var.image
  env        = { MESSAGE = "app1,${var.version}" }
  depends_on = [step.drain.app1]
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

step "restore" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.health_check.app1]
}

# The seed's rolling update (shared/seed/README.md), step by step:
# take app2 out of nginx, redeploy it, check it, put it back; then app1.
#
#   plan show  plans/rolling-update.hcl
#   plan apply plans/rolling-update.hcl

plan {
  name        = "rolling-update"
  description = "Roll app1 and app2 to v2 behind nginx, one at a time"
}

variable "version" {
  type        = string
  default     = "v2"
  description = "The version to roll out; the apps print it in every answer."
}

variable "image" {
  type        = string
  default     = "bithavoc/hello-world-env"
  description = "The apps' image."
}

variable "compose_project" {
  type        = string
  default     = "docker-non-stop-deploy"
  description = "The Docker Compose project the apps belong to (the seed's folder name)."
}

variable "nginx_container" {
  type        = string
  default     = "nginx"
  description = "The nginx container's name."
}

# Containers are found by their Compose service name (app1, app2) within
# this project, as `docker compose` names them.
docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container     = var.nginx_container
  config        = "proxy/nginx.conf" # bind-mounted to /etc/nginx/nginx.conf
  upstream      = "apps"
  drain_timeout = "30s"
}

# --- app2 ---------------------------------------------------------------

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
    port          = 3000
    path          = "/"
    expect_status = 200
    expect_body   = "app2,${var.version}"
  }
  interval          = "200ms"
  timeout           = "30s"
  healthy_threshold = 2
  depends_on        = [step.deploy.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.health_check.app2]
}

# --- app1, once app2 serves again ----------------------------------------

step "drain" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.restore.app2]
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
    port          = 3000
    path          = "/"
    expect_status = 200
    expect_body   = "app1,${var.version}"
  }
  interval          = "200ms"
  timeout           = "30s"
  healthy_threshold = 2
  depends_on        = [step.deploy.app1]
}

step "restore" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.health_check.app1]
}

# The old side of the diff golden files: compared with new.hcl, a step is
# added, one removed, one moved, attributes changed, a sensitive value
# changed and an env entry changed.

plan {
  name        = "diff-demo"
  description = "Roll app1 and app2"
}

variable "version" {
  type    = string
  default = "v1"
}

variable "api_token" {
  type      = string
  default   = "old-s3cr3t"
  sensitive = true
}

locals {
  port = 3000
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:${local.port}"
}

step "deploy" "app2" {
  container  = "app2"
  image      = "example/app:${var.version}"
  env        = { LOG_LEVEL = "info", MESSAGE = "app2" }
  depends_on = [step.drain.app2]
}

step "deploy" "app1" {
  container  = "app1"
  image      = "example/app:${var.version}"
  env        = { TOKEN = var.api_token }
  depends_on = [step.deploy.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:${local.port}"
  depends_on = [step.deploy.app1]
}

step "health_check" "app1" {
  container  = "app1"
  http {
    port = local.port
  }
  depends_on = [step.restore.app2]
}

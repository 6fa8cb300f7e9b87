# The new side of the diff golden files (see old.hcl). Pipes in a value
# must not break the markdown table.

plan {
  name        = "diff-demo"
  description = "Roll app1 and app2 | safely"
}

variable "version" {
  type    = string
  default = "v2"
}

variable "api_token" {
  type      = string
  default   = "new-s3cr3t"
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

# app1 now rolls before app2.
step "deploy" "app1" {
  container  = "app1"
  image      = "example/app:${var.version}"
  env        = { TOKEN = var.api_token }
  depends_on = [step.drain.app2]
}

step "deploy" "app2" {
  container  = "app2"
  image      = "example/app:${var.version}"
  env        = { LOG_LEVEL = "debug", MESSAGE = "app2" }
  pull       = "always"
  depends_on = [step.deploy.app1]
}

step "health_check" "app2" {
  container = "app2"
  http {
    port = local.port
    path = "/healthz"
  }
  depends_on = [step.deploy.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:${local.port}"
  timeout    = "45s"
  depends_on = [step.health_check.app2]
}

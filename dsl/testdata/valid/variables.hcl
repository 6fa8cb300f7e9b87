# Variables of every type, sensitive ones included, used in step bodies.

variable "version" {
  type        = string
  default     = "v2"
  description = "The version to roll out."
}

variable "port" {
  type    = number
  default = 3000
}

variable "strict" {
  type    = bool
  default = true
}

variable "apps" {
  type    = list(string)
  default = ["app2", "app1"]
}

variable "extra_env" {
  type    = map(string)
  default = { LOG_LEVEL = "info" }
}

variable "zones" {
  type    = set(string)
  default = ["a", "b"]
}

variable "probe" {
  type = object({
    path   = string
    status = number
  })
  default = {
    path   = "/healthz"
    status = 200
  }
}

variable "pair" {
  type    = tuple([string, number])
  default = ["app2", 3000]
}

variable "untyped" {
  default = "anything"
}

variable "api_token" {
  type      = string
  default   = "s3cr3t-token"
  sensitive = true
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "${var.apps[0]}:${var.port}"
}

step "deploy" "app2" {
  container = var.pair[0]
  image     = "example/app:${var.version}"
  env = merge(var.extra_env, {
    TOKEN   = var.api_token
    STRICT  = tostring(var.strict)
    ZONES   = join(",", sort(var.zones))
    UNTYPED = var.untyped
  })
  depends_on = [step.drain.app2]
}

step "health_check" "app2" {
  container = "app2"
  http {
    port          = var.pair[1]
    path          = var.probe.path
    expect_status = var.probe.status
  }
  depends_on = [step.deploy.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "${var.apps[0]}:${var.port}"
  depends_on = [step.health_check.app2]
}

# Variables set from every source, for the precedence tests.

variable "version" {
  type    = string
  default = "from-default"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "token" {
  type      = string
  default   = "default-token-value"
  sensitive = true
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${var.version}"
  env = {
    REPLICAS = tostring(var.replicas)
    TOKEN    = var.token
  }
}

step "health_check" "app" {
  container = "app"
  http {
    port        = 3000
    expect_body = var.token
  }
  depends_on = [step.deploy.app]
}

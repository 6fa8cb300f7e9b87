# A variable without a default needs a value from -var, -var-file or the
# environment.

variable "version" { # error: No value for required variable; detail: -var version=VALUE
  type = string
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${var.version}"
}

# A sensitive number given a string: the error must not print it.

variable "port" {
  type      = number
  sensitive = true
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${var.port}"
}

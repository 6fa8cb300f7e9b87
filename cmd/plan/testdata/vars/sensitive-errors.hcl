# A sensitive value that the plan rejects: the errors must not quote it.

variable "token" {
  type      = string
  sensitive = true
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app" {
  nginx  = nginx.proxy
  server = "${var.token}:3000"
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${tonumber(var.token)}"
}

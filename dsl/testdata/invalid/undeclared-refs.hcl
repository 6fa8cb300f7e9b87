# References to things that are not declared point at the name, and suggest
# the closest declared one.

variable "version" {
  default = "v2"
}

locals {
  apps = ["app1", "app2"]
  tag  = var.verison # error: Reference to undeclared input variable; detail: Did you mean "version"?
}

docker "local" {}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  engine    = docker.lcoal # error: Reference to undeclared docker; detail: Did you mean "local"?
}

step "deploy" "app2" {
  container = local.ap[0] # error: Reference to undeclared local value; detail: Did you mean "apps"?
  image     = "example/app:${vars.version}" # error: Unknown name; detail: Did you mean "var"?
}

step "drain" "app1" {
  nginx  = nginx.prxy # error: Reference to undeclared nginx; detail: Did you mean "proxy"?
  server = "app1:3000"
}

step "deploy" "app1" {
  container  = "app1"
  image      = step.deploy.ap2.image # error: Reference to undeclared step; detail: Did you mean "step.deploy.app2"?
  depends_on = [step.drain.ap1] # error: Reference to undeclared step; detail: Did you mean "step.drain.app1"?
}

step "restore" "app1" {
  nginx  = nginx.proxy
  server = var # error: Invalid reference
}

# depends_on lists steps (or rollouts), as references.

variable "x" {
  default = "step.deploy.a"
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "a" {
  container = "a"
  image     = "example/a"
}

step "deploy" "b" {
  container  = "b"
  image      = "example/b"
  depends_on = [nginx.proxy] # error: Invalid depends_on element
}

step "deploy" "c" {
  container  = "c"
  image      = "example/c"
  depends_on = ["step.deploy.a"] # error: Invalid depends_on element
}

step "deploy" "d" {
  container  = "d"
  image      = "example/d"
  depends_on = step.deploy.a # error: Invalid depends_on; detail: a list of steps
}

step "deploy" "e" {
  container  = "e"
  image      = "example/e"
  depends_on = [var.x, step.deploy.a] # error: Invalid depends_on element
}

step "deploy" "f" {
  container  = "f"
  image      = "example/f"
  depends_on = [rollout.nope] # error: Reference to undeclared step
}

step "deploy" "g" {
  container  = "g"
  image      = "example/g"
  depends_on = [step.deploy.a[each.key]] # error: Reference to "each" outside for_each
}

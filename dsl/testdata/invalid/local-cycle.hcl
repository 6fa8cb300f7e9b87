# Locals that refer to each other in a circle.

locals {
  a = "${local.b}-a" # error: Cycle between local values; detail: local.a → local.b → local.c → local.a
  b = "${local.c}-b"
  c = "${local.a}-c"
}

step "deploy" "app" {
  container = local.a
  image     = "example/app"
}

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

# A cycle through for expressions (which lose the marks of an unknown):
# one error, and no "Value not known" for what uses it.
locals {
  list = [for x in local.copy : x]
  copy = { for k, v in local.list : k => v } # error: Cycle between local values; detail: local.copy → local.list → local.copy
}

step "deploy" "list" {
  container = local.list[0]
  image     = "example/app:${local.copy["a"]}"
}

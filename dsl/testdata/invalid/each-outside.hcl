# each.* exists only in a step with for_each.

locals {
  name = each.key # error: Reference to "each" outside for_each
}

step "deploy" "app" {
  container = each.value # error: Reference to "each" outside for_each; detail: Add for_each to this step
  image     = "example/app"
}

step "deploy" "many" {
  for_each  = toset(["a", "b"])
  container = each.name # error: Invalid each attribute
  image     = each # error: Invalid each attribute
}

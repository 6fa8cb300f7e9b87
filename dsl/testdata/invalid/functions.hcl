# Function calls that fail.

locals {
  a = uppr("x") # error: Call to unknown function; detail: Did you mean "upper"?
  b = jsondecode("{") # error: Error in function call
  c = format() # error: Not enough function arguments
  d = index(["a"], "b") # error: Error in function call; detail: item not found
}

step "deploy" "app" {
  container = local.a
  image     = "${local.b}${local.c}${local.d}"
}

# for_each takes a map or a set of strings, known when the plan is read.

variable "secret_apps" {
  type      = set(string)
  default   = ["a"]
  sensitive = true
}

step "deploy" "list" {
  for_each  = ["a", "b"] # error: Invalid for_each argument; detail: not a list: wrap it in toset(...)
  container = each.key
  image     = "example/app"
}

step "deploy" "number" {
  for_each  = 3 # error: Invalid for_each argument; detail: this is number
  container = "x"
  image     = "example/app"
}

step "deploy" "numbers" {
  for_each  = toset([1, 2]) # error: Invalid for_each argument; detail: must hold strings
  container = "x"
  image     = "example/app"
}

step "deploy" "secret" {
  for_each  = var.secret_apps # error: Invalid for_each argument; detail: sensitive
  container = each.key
  image     = "example/app"
}

step "deploy" "null" {
  for_each  = null # error: Invalid for_each argument
  container = "x"
  image     = "example/app"
}

step "deploy" "from_step" {
  for_each  = step.deploy.list # error: Reference to a step in for_each
  container = "x"
  image     = "example/app"
}

# A reference to an instance of a broken for_each is not reported again.
step "deploy" "after" {
  container  = step.deploy.list["a"].container
  image      = "example/app"
  depends_on = [step.deploy.list["a"]] # error: Reference to undeclared step
}

# target exists only inside a rollout block.

locals {
  server = "${target}:3000" # error: Reference to "target" outside a rollout
}

step "deploy" "app" {
  container = target # error: Reference to "target" outside a rollout
  image     = "example/app"
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "db" {
  for_each  = toset(["a", "b"])
  container = "db-${each.key}"
  image     = "example/db"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["a", "b"]
  server     = "${target}:3000"
  depends_on = [step.deploy.db[target]] # error: Reference to "target" in a rollout's depends_on; detail: holds for the rollout as a whole
  deploy {
    image = "example/app"
  }
  health_check {
    docker {}
  }
}

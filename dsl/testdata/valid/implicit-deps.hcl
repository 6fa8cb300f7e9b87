# A reference to another step's attribute is a dependency, like depends_on.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "app2" {
  container = "app2"
  image     = "example/app:v2"
  env       = { MESSAGE = "app2,v2" }
}

# Same image as app2: depends on step.deploy.app2 without saying so.
step "deploy" "app1" {
  container = "app1"
  image     = step.deploy.app2.image
  env       = { MESSAGE = "app1,v2", FROM = step.deploy.app2.address }
}

step "health_check" "app1" {
  container = step.deploy.app1.container
  http {
    port        = 3000
    expect_body = step.deploy.app1.env["MESSAGE"]
  }
}

# A reference declared before the step it names.
step "restore" "app1" {
  nginx  = nginx.proxy
  server = "${step.health_check.app1.container}:3000"
}

step "deploy" "pair" {
  for_each  = toset(["a", "b"])
  container = each.key
  image     = "example/${each.key}:v2"
}

# Paired by key: health_check.pair["a"] waits for deploy.pair["a"] only.
step "health_check" "pair" {
  for_each  = toset(["a", "b"])
  container = step.deploy.pair[each.key].container
  tcp {
    port = 80
  }
}

# A rollout's own attributes may refer to steps: its first phase waits.
rollout "again" {
  nginx   = nginx.proxy
  targets = [step.deploy.app2.container]
  server  = "${target}:3000"
  deploy {
    image = step.deploy.app1.image
  }
  health_check {
    docker {}
  }
}

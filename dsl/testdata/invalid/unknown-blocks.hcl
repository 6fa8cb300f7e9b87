# Blocks and arguments the plan language does not have.

name = "top-level attribute" # error: Unsupported argument

stage "build" { # error: Unsupported block type
}

step "deploy" "app" {
  container = "app"
  image     = "example/app"
  retries   = 3 # error: Unsupported argument
  count     = 2 # error: Unsupported argument
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["a"]
  server  = "${target}:3000"
  for_each = toset(["x"]) # error: Unsupported argument
  deploy {
    image = "example/app"
  }
  health_check {
    docker {}
  }
  smoke_test { # error: Unsupported block type
  }
}

rollout "phases" {
  nginx   = nginx.proxy
  targets = ["a", "b"]
  server  = "${target}:3000"
  deploy {
    image      = "example/app"
    depends_on = [step.deploy.app] # error: Unsupported argument
  }
  health_check {
    docker {}
  }
}

step "deploy" { # error: Missing name for step
}

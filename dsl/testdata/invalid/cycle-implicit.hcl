# References make dependencies, so references can close a cycle too; and a
# rollout can be part of one.

step "deploy" "a" {
  container = "a"
  image     = step.deploy.b.image
}

step "deploy" "b" {
  container = "b"
  image     = step.deploy.a.image # error: Dependency cycle; detail: step.deploy.a → step.deploy.b → step.deploy.a
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "migrate" {
  container  = "migrate"
  image      = "example/migrate"
  depends_on = [rollout.apps["app1"]]
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["app1"]
  server     = "${target}:3000"
  depends_on = [step.deploy.migrate] # error: Dependency cycle; detail: step.deploy.migrate → rollout.apps["app1"].drain → step.deploy.migrate
  deploy {
    image = "example/app"
  }
  health_check {
    docker {}
  }
}

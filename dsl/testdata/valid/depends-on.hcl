# Every form of depends_on: step.T.N, step.T.N["k"], step.T.N[each.key],
# rollout.NAME, rollout.NAME["target"], rollout.NAME["target"].PHASE.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["app2", "app1"]
  server  = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    tcp {
      port = 3000
    }
  }
}

step "deploy" "one" {
  container  = "one"
  image      = "example/one:v2"
  depends_on = [rollout.apps]
}

step "deploy" "pair" {
  for_each   = toset(["a", "b"])
  container  = each.key
  image      = "example/${each.key}:v2"
  depends_on = [step.deploy.one]
}

step "health_check" "pair" {
  for_each  = toset(["a", "b"])
  container = each.key
  docker {}
  depends_on = [step.deploy.pair[each.key]]
}

step "restore" "after_b" {
  nginx      = nginx.proxy
  server     = "b:3000"
  depends_on = [step.health_check.pair["b"], rollout.apps["app2"]]
}

step "drain" "after_deploy" {
  nginx      = nginx.proxy
  server     = "c:3000"
  depends_on = [rollout.apps["app1"].deploy]
}

# The whole for_each group.
step "restore" "after_all" {
  nginx      = nginx.proxy
  server     = "c:3000"
  depends_on = [step.health_check.pair, step.drain.after_deploy]
}

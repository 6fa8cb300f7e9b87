# for_each over a set of strings; instances paired with [each.key].

locals {
  apps = ["app1", "app2", "app3"]
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app" {
  for_each = toset(local.apps)
  nginx    = nginx.proxy
  server   = "${each.key}:3000"
}

step "deploy" "app" {
  for_each   = toset(local.apps)
  container  = each.value
  image      = "example/${each.key}:v2"
  env        = { MESSAGE = "${each.key},v2" }
  depends_on = [step.drain.app[each.key]]
}

step "health_check" "app" {
  for_each = toset(local.apps)
  container = each.key
  http {
    port        = 3000
    expect_body = "${each.key},v2"
  }
  depends_on = [step.deploy.app[each.key]]
}

step "restore" "app" {
  for_each   = toset(local.apps)
  nginx      = nginx.proxy
  server     = "${each.key}:3000"
  depends_on = [step.health_check.app[each.key]]
}

# app1 goes after app2, declared in a file read later.

step "drain" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.restore.app2]
}

step "deploy" "app1" {
  container  = "app1"
  image      = local.image
  depends_on = [step.drain.app1]
}

step "restore" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.deploy.app1]
}

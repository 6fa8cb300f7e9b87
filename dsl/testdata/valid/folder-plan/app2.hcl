step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:3000"
}

step "deploy" "app2" {
  container  = "app2"
  image      = local.image
  depends_on = [step.drain.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.deploy.app2]
}

# Two drains in one wave: their order in the file is no order of apply.

plan {
  name = "parallel"
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app1" {
  nginx  = nginx.proxy
  server = "app1:3000"
}

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:3000"
}

step "restore" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.drain.app1, step.drain.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.drain.app1, step.drain.app2]
}

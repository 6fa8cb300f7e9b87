# A cycle through three steps, and a separate one through two: both are
# reported, each with every step named, in declaration order.

step "drain" "a" {
  nginx      = nginx.proxy
  server     = "a:3000"
  depends_on = [step.restore.c]
}

step "deploy" "b" {
  container  = "b"
  image      = "example/b"
  depends_on = [step.drain.a] # error: Dependency cycle; detail: step.drain.a → step.restore.c → step.deploy.b → step.drain.a
}

step "restore" "c" {
  nginx      = nginx.proxy
  server     = "c:3000"
  depends_on = [step.deploy.b]
}

step "deploy" "x" {
  container  = "x"
  image      = "example/x"
  depends_on = [step.deploy.y]
}

step "deploy" "y" {
  container  = "y"
  image      = "example/y"
  depends_on = [step.deploy.x] # error: Dependency cycle; detail: step.deploy.x → step.deploy.y → step.deploy.x
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

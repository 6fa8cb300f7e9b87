# nginx = and engine = refer to blocks, not strings or attributes.

docker "local" {}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  engine    = "local" # error: Invalid docker reference
}

step "drain" "app" {
  nginx  = "proxy" # error: Invalid nginx reference
  server = "app:3000"
}

step "deploy" "app" {
  container = "app"
  image     = "example/app"
  engine    = docker.local.host # error: Invalid docker reference
}

step "restore" "app" {
  nginx  = nginx.nope # error: Reference to undeclared nginx
  server = "app:3000"
}

# Valid, with two warnings: validate -format github prints them as
# ::warning commands and still exits 0.
nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app1" {
  nginx  = nginx.proxy
  server = "app1:3000"
}

step "deploy" "app2" {
  container = "app2"
  image     = "example/app:v2"
}

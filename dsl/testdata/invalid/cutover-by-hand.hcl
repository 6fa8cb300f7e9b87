nginx "lb" {
  container = "nginx"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}

step "cutover" "web" { # error: A cut-over comes from a blue_green block
  nginx = nginx.lb
}

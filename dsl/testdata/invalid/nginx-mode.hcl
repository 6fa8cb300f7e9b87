# An nginx block's mode is reload (the default) or dynamic.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  mode      = "dynamc" # error: Invalid value for "mode"; detail: Did you mean "dynamic"?
}

step "drain" "app" {
  nginx  = nginx.proxy
  server = "app:3000"
}

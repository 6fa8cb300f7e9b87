# state_path is an absolute, clean folder in the container, and needs state.

plan {
  name       = "web"
  state      = nginx.lb
  state_path = "/var/lib/../nonstop" # error: Invalid state_path; detail: absolute, clean path
}

nginx "lb" {
  container = "lb"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}

step "drain" "app" {
  nginx  = nginx.lb
  server = "app:3000"
}

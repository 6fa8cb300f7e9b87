# nginx runs in a container or on the host: one of the two.

nginx "both" {
  container = "nginx"
  pid_file  = "/run/nginx.pid" # error: Conflicting nginx forms
  config    = "nginx.conf"
  upstream  = "apps"
}

nginx "neither" { # error: Where does nginx run?
  config   = "nginx.conf"
  upstream = "apps"
}

nginx "typo" {
  containr = "nginx" # error: Unsupported argument; detail: Did you mean "container"?
  config   = "nginx.conf"
  upstream = "apps"
}

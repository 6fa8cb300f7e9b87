# A health_check takes exactly one probe.

step "health_check" "two" {
  container = "app"
  http {
    port = 3000
  }
  tcp { # error: More than one probe; detail: Split them into two health_check steps
    port = 3000
  }
}

step "health_check" "none" { # error: Missing probe
  container = "app"
}

step "health_check" "unknown" {
  container = "app"
  grpc { # error: Unsupported block type
    port = 3000
  }
  docker {}
}

step "health_check" "via" {
  container = "app"
  http {
    port      = 80
    via_nginx = true # error: via_nginx needs an nginx
  }
}

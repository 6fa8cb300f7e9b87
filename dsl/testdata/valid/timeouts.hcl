# The timeout meta-argument in its accepted forms.

step "health_check" "fast" {
  container = "app"
  timeout   = "500ms"
  tcp {
    port = 80
  }
}

step "health_check" "slow" {
  container = "app"
  timeout   = "1h30m"
  tcp {
    port = 80
  }
  depends_on = [step.health_check.fast]
}

step "deploy" "app" {
  container  = "app"
  image      = "example/app"
  timeout    = format("%ds", 90)
  depends_on = [step.health_check.slow]
}

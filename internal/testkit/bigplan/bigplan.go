// Package bigplan writes large generated plans for the benchmarks of
// validate, graph and lint: a hand-written chain of steps and a rollout,
// shaped like the examples in plans/.
package bigplan

import (
	"fmt"
	"strings"
)

const header = `
variable "version" {
  type    = string
  default = "v2"
}

nginx "proxy" {
  container     = "nginx"
  config        = "nginx.conf"
  upstream      = "apps"
  drain_timeout = "30s"
}
`

// Chain writes n steps by hand, as plans/rolling-update.hcl does: per
// app a drain, deploy, health_check and restore, each depending on the one
// before, and each app's drain on the previous app's restore.
func Chain(n int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < n/4; i++ {
		app := fmt.Sprintf("app%d", i)
		prev := ""
		if i > 0 {
			prev = fmt.Sprintf("\n  depends_on = [step.restore.app%d]", i-1)
		}
		fmt.Fprintf(&b, `
step "drain" %[1]q {
  nginx  = nginx.proxy
  server = "%[1]s:3000"%[2]s
}

step "deploy" %[1]q {
  container  = %[1]q
  image      = "example/app:${var.version}"
  env        = { MESSAGE = "%[1]s,${var.version}" }
  depends_on = [step.drain.%[1]s]
}

step "health_check" %[1]q {
  container = %[1]q
  http {
    port        = 3000
    expect_body = "%[1]s,${var.version}"
  }
  interval   = "200ms"
  depends_on = [step.deploy.%[1]s]
}

step "restore" %[1]q {
  nginx      = nginx.proxy
  server     = "%[1]s:3000"
  depends_on = [step.health_check.%[1]s]
}
`, app, prev)
	}
	return b.String()
}

// Rollout writes one rollout of the given targets and batch size.
func Rollout(targets, batch int) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\nrollout \"apps\" {\n  nginx      = nginx.proxy\n  targets    = [")
	for i := 0; i < targets; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"app%d"`, i)
	}
	fmt.Fprintf(&b, `]
  batch_size = %d
  server     = "${target}:3000"
  deploy {
    image = "example/app:${var.version}"
  }
  health_check {
    http {
      port = 3000
    }
  }
}
`, batch)
	return b.String()
}

// This file holds `testapp -check`: the health probe a plan runs in the
// container through the engine (exec), for engines whose containers the
// machine running plan cannot reach.
package main

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// check asks the running server's /healthz on 127.0.0.1:port (default
// 3000) and returns the exit status: 0 on 200, else 1, saying why on w.
func check(port string, w io.Writer) int {
	if port == "" {
		port = "3000"
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		_, _ = fmt.Fprintln(w, "testapp -check:", err)
		return 1
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = fmt.Fprintln(w, "testapp -check: /healthz answered", resp.Status)
		return 1
	}
	return 0
}

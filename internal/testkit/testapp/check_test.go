// This file tests `testapp -check` against a healthy and a failing
// server, and with nothing listening.
package main

import (
	"io"
	"net"
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config
		want int
	}{{"healthy", config{Message: "m"}, 0}, {"FAIL=1", config{Message: "m", Fail: true}, 1}} {
		srv := httptest.NewServer(newHandler(tc.cfg))
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		if got := check(port, io.Discard); got != tc.want {
			t.Errorf("%s: check = %d, want %d", tc.name, got, tc.want)
		}
		srv.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	if got := check(port, io.Discard); got != 1 {
		t.Errorf("nothing listening: check = %d, want 1", got)
	}
}

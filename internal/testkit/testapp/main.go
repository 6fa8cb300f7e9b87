// Command testapp is the test stand-in for the seed's `bithavoc/hello-world-env`
// image: a static HTTP server that answers every request with
//
//	Hi there, I love <path without the leading slash>! $MESSAGE
//
// byte for byte like the original (no trailing newline), so `GET /` gives
// `Hi there, I love ! app1,v1`. Any method is answered the same way; a request
// body is read and discarded.
//
// It is built into a FROM scratch image by internal/testkit/testimage (tests cannot
// pull images) and adds knobs, all optional, to simulate faulty releases:
//
//	PORT=3000          port to listen on (all interfaces)
//	MESSAGE=...        the text after "! "
//	FAIL=1             every request (including /healthz) answers 500
//	SLOW=2s            every response is delayed by that long
//	START_DELAY=5s     sleep that long before listening (slow start)
//	IGNORE_SIGTERM=1   log SIGTERM and carry on (docker stop must SIGKILL)
//	CRASH_AFTER=10s    exit with status 1 that long after starting
//
// and per request:
//
//	?sleep=5s          delay this one response (in-flight requests at drain time)
//	GET /healthz       200 "ok" (500 under FAIL); SLOW and ?sleep apply too
//
// `testapp -check` (run in the container, as an exec health probe) asks the
// running server's /healthz on 127.0.0.1:$PORT and exits 0 on 200, else 1.
//
// On SIGTERM or SIGINT (unless IGNORE_SIGTERM=1, which covers SIGTERM only) the
// server stops accepting, finishes the requests in flight (http.Server.Shutdown)
// and exits 0. A bad knob value exits 2 at start with a message on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-check" { // an exec health probe: see check.go
		os.Exit(check(os.Getenv("PORT"), os.Stderr))
	}
	logger := log.New(os.Stdout, "testapp: ", log.LstdFlags|log.Lmicroseconds)
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(cfg, sigs, nil, logger))
}

// run starts the server and blocks until it has shut down; it returns the exit
// status. ready, when not nil, receives the listener's address once the server
// accepts connections (tests use it with PORT=0).
func run(cfg config, sigs <-chan os.Signal, ready chan<- net.Addr, logger *log.Logger) int {
	exit := make(chan int, 1)
	if cfg.CrashAfter > 0 {
		time.AfterFunc(cfg.CrashAfter, func() {
			logger.Printf("CRASH_AFTER=%s: exiting with status 1", cfg.CrashAfter)
			exit <- 1
		})
	}

	// stop reports whether a signal asks for shutdown; ignored ones are logged.
	stop := func(s os.Signal) bool {
		if s == syscall.SIGTERM && cfg.IgnoreSIGTERM {
			logger.Printf("IGNORE_SIGTERM=1: ignoring %v", s)
			return false
		}
		logger.Printf("%v: shutting down", s)
		return true
	}

	if cfg.StartDelay > 0 {
		logger.Printf("START_DELAY=%s: waiting before listening", cfg.StartDelay)
		t := time.NewTimer(cfg.StartDelay)
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case s := <-sigs:
				if stop(s) {
					return 0
				}
			case code := <-exit:
				return code
			}
		}
	}

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		logger.Printf("listen: %v", err)
		return 1
	}
	srv := &http.Server{Handler: newHandler(cfg), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Println("Listening on port", cfg.Port)
	if ready != nil {
		ready <- ln.Addr()
	}

	for {
		select {
		case s := <-sigs:
			if !stop(s) {
				continue
			}
			// No deadline: in-flight requests finish; docker stop's SIGKILL
			// bounds it from outside.
			if err := srv.Shutdown(context.Background()); err != nil {
				logger.Printf("shutdown: %v", err)
				return 1
			}
			logger.Println("shut down cleanly")
			return 0
		case code := <-exit:
			return code
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Printf("serve: %v", err)
			}
			return 1
		}
	}
}

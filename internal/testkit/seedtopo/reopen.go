// This file finds again a topology that an earlier process started and left
// running (cmd/nonstop-topology up), so that a later one can Close it.
package seedtopo

import (
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"
)

// Reopen returns a Topology for the project started earlier with its
// folder dir, enough to Close it: Close finds the containers and the
// network by their labels, stops the host nginx whose pid file is in dir
// (host mode), and removes dir. Fields only Start knows (Apps, URL, Images)
// stay empty. log receives Close's progress (nil discards it).
func Reopen(cli client.APIClient, project, dir string, log io.Writer) *Topology {
	if log == nil {
		log = io.Discard
	}
	t := &Topology{
		Project:    project,
		Network:    project + "_default",
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "proxy", "nginx.conf"),
		cli:        cli,
		log:        log,
		http:       &http.Client{Transport: &http.Transport{}},
	}
	if pid := filepath.Join(dir, "nginx.pid"); dir != "" {
		if _, err := os.Stat(pid); err == nil {
			t.NginxPIDFile = pid
		}
	}
	return t
}

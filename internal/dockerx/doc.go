// Package dockerx holds the Docker Engine operations that Nonstop's steps are
// made of: finding the container a plan names, making sure an image is there
// before anything changes, replacing a container by a clone of itself with a
// new image and env (and undoing or finalizing that replacement later, possibly
// from another process, from what the journal recorded), and the probes that
// health checks use.
//
// Everything goes through the Engine API (never the docker CLI), against any
// client.APIClient, so the steps can be unit-tested with a fake. The engine the
// project targets is Docker 20.10 (API 1.41); the code avoids features of later
// API versions or falls back when they are missing.
//
// Errors say what happened and the state things are left in, because the
// person reading them is usually deciding whether to run `plan rollback` or to
// clean up by hand.
package dockerx

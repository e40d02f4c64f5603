//go:build tools

// Package tools pins the containerd module so `go mod tidy` keeps it; the
// binaries are its own main packages, built by tests/node/build.sh.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)

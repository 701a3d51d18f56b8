// Package containers starts camstorm's reference stack services as Docker
// containers built FROM scratch from camstorm's own static binary, and
// cleans up after them.
//
// The Docker engines this is built for can pull no image at all, so nothing
// here names a registry image: the only image is built locally by
// testcontainers-go's FromDockerfile (classic builder) from a context holding
// one static binary, a Dockerfile starting FROM scratch and nothing else. The
// image is tagged camstorm-stack:<first 16 hex digits of the binary's
// SHA-256>, so the same binary never builds twice.
//
// Where the binary comes from: a container image FROM scratch has no C
// library and no dynamic loader, so only a statically linked Linux binary
// runs in it. A released camstorm is built with CGO_ENABLED=0 and is such a
// binary; when ImageOptions.PreferExecutable is set (the CLI sets it) and the
// running executable is a static ELF file (no PT_INTERP program header),
// that very binary goes into the image, so the containers run exactly the
// code the user runs and no Go toolchain is needed. Otherwise (a dynamically
// linked build, a test binary, macOS) camstorm is built from source with
// CGO_ENABLED=0 -trimpath in the Go module found in the working directory
// (go env GOMOD), which must be camstorm's checkout or a module requiring
// it; with neither, Image fails saying what to do. Test binaries never go
// into the image: they are not camstorm.
//
// Ryuk, testcontainers' reaper, is an image too and cannot be pulled, so it
// must be disabled (TESTCONTAINERS_RYUK_DISABLED=true, exactly lowercase,
// before the first testcontainers call: DisableReaper) and clean-up is done
// here instead. Every network, volume and container carries the labels
// dev.camstorm.stack=1, dev.camstorm.session=<id> and
// dev.camstorm.owner=<hostname>:<pid>; a Session removes what carries its
// session label on Close, and Sweep, which every new Session runs first,
// removes what a crashed owner left behind.
//
// Published ports are bound to 127.0.0.1 only, so nothing is exposed beyond
// this machine; the engine must therefore run on this machine (the unix
// socket, as here), and health waits dial 127.0.0.1 themselves rather than
// the host testcontainers infers (inside a container it picks the bridge
// gateway, where nothing is published).
package containers

import (
	// testcontainers-go is the product card's choice for starting the stack
	// as containers.
	_ "github.com/testcontainers/testcontainers-go"
)

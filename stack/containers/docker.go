package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ErrNoDocker is wrapped by every error saying that no Docker engine is
// reachable; test it with errors.Is.
var ErrNoDocker = errors.New("no Docker engine is reachable")

// ErrReaperEnabled is wrapped when TESTCONTAINERS_RYUK_DISABLED is not
// exactly "true" before the first testcontainers call.
var ErrReaperEnabled = errors.New("testcontainers' reaper (Ryuk) is not disabled")

// ryukEnv is testcontainers' switch for its reaper; only the exact value
// "true" disables it ("1" or "TRUE" parse as false and even override
// ryuk.disabled in ~/.testcontainers.properties).
const ryukEnv = "TESTCONTAINERS_RYUK_DISABLED"

// DisableReaper sets TESTCONTAINERS_RYUK_DISABLED=true in this process's
// environment. Ryuk is a registry image, which the engines this package is
// for cannot pull, and testcontainers reads its configuration once per
// process, so call DisableReaper before anything else of this package or of
// testcontainers (the CLI does it first thing; tests do it in TestMain).
// Clean-up is then the Session's job.
func DisableReaper() error {
	if err := os.Setenv(ryukEnv, "true"); err != nil {
		return fmt.Errorf("containers: set %s=true: %w", ryukEnv, err)
	}
	return nil
}

// checkReaper runs before every testcontainers call.
func checkReaper() error {
	if v := os.Getenv(ryukEnv); v != "true" {
		return fmt.Errorf("%w: %s is %q, it must be exactly \"true\" before the first testcontainers call "+
			"(call containers.DisableReaper first, or export %s=true); Ryuk is an image this engine cannot pull",
			ErrReaperEnabled, ryukEnv, v, ryukEnv)
	}
	if !testcontainers.ReadConfig().RyukDisabled {
		return fmt.Errorf("%w: testcontainers read its configuration before %s=true was set; "+
			"call containers.DisableReaper before any testcontainers call", ErrReaperEnabled, ryukEnv)
	}
	return nil
}

// availabilityTimeout bounds how long Available waits for the engine.
const availabilityTimeout = 5 * time.Second

// Available reports whether a Docker engine is reachable, as one sentence
// naming the address tried and saying that only containers mode needs it.
func Available(ctx context.Context) error {
	if err := checkReaper(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, availabilityTimeout)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return unreachable(err)
	}
	return nil
}

// newClient connects to the engine testcontainers would use.
func newClient(ctx context.Context) (cli *testcontainers.DockerClient, err error) {
	// testcontainers panics in some host-detection paths when there is no
	// engine at all.
	defer func() {
		if r := recover(); r != nil {
			cli, err = nil, unreachable(fmt.Errorf("%v", r))
		}
	}()
	cli, err = testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, unreachable(err)
	}
	return cli, nil
}

func unreachable(err error) error {
	return fmt.Errorf("%w at %s: %v; containers mode needs Docker, the embedded stack does not",
		ErrNoDocker, dockerAddress(), err)
}

// dockerAddress is the engine address for messages: DOCKER_HOST, or the
// default socket.
func dockerAddress() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// SkipIfNoDocker skips the test with Available's sentence when no Docker
// engine is reachable — or fails it when CI demands every tool with
// CAMSTORM_REQUIRE_TOOLS=1. Any other problem (Ryuk not disabled) fails it.
func SkipIfNoDocker(tb testing.TB) {
	tb.Helper()
	skipOrFail(tb, Available(context.Background()), os.Getenv("CAMSTORM_REQUIRE_TOOLS") == "1")
}

func skipOrFail(tb testing.TB, err error, required bool) {
	tb.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrNoDocker) && !required:
		tb.Skip(err.Error())
	case errors.Is(err, ErrNoDocker):
		tb.Fatal(err.Error() + " — required because CAMSTORM_REQUIRE_TOOLS=1")
	default:
		tb.Fatal(err)
	}
}

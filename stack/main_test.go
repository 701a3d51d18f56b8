package stack_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/camstorm/camstorm/stack/containers"
)

// TestMain turns testcontainers' reaper off before anything uses it (it
// would pull an image, and nothing can be pulled here), and afterwards
// fails the run if a container, network or volume this process made is
// still there: every test, passing or failing, must clean up.
func TestMain(m *testing.M) {
	if err := containers.DisableReaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: Docker resources left behind by the tests:", strings.Join(left, ", "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers lists this process's containers, networks and volumes.
func leftovers() []string { return leftoversOf(containers.Owner(os.Getpid())) }

// leftoversOf lists an owner's containers, networks and volumes.
func leftoversOf(owner string) []string {
	left, err := containers.Owned(context.Background(), owner)
	if err != nil {
		return []string{err.Error()}
	}
	return left
}

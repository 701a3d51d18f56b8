package stack_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/camstorm/camstorm/stack/containers"
)

// TestMain turns testcontainers' reaper off before anything uses it: it
// would pull an image, and nothing can be pulled here.
func TestMain(m *testing.M) {
	if err := containers.DisableReaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

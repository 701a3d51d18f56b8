package stack_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// failingChildEnv makes TestFailsWithContainersUp fail on purpose, in a
// child process of TestNothingLeftAfterAFailingTest.
const failingChildEnv = "CAMSTORM_TEST_FAILING_CHILD"

// TestFailsWithContainersUp starts the containers stack and fails while
// it runs; it does anything only in the child process.
func TestFailsWithContainersUp(t *testing.T) {
	if os.Getenv(failingChildEnv) != "1" {
		t.Skip("runs only as the failing child of TestNothingLeftAfterAFailingTest")
	}
	st, err := stack.StartContainers(context.Background(), stack.Options{}, stack.ContainersOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	t.Fatal("failing on purpose with the stack's containers up")
}

// TestNothingLeftAfterAFailingTest: a test that fails with the containers
// stack up (in a child process running TestFailsWithContainersUp) leaves
// no container, network or volume of its behind.
func TestNothingLeftAfterAFailingTest(t *testing.T) {
	containers.SkipIfNoDocker(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailsWithContainersUp$", "-test.count=1")
	cmd.Env = append(os.Environ(), failingChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child must fail: %s", out)
	require.Contains(t, string(out), "failing on purpose")
	require.Empty(t, leftoversOf(containers.Owner(cmd.Process.Pid)), "left behind by the failing test: %s", out)
}

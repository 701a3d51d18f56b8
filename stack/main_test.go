package stack_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
func leftovers() []string {
	host, _ := os.Hostname()
	return leftoversOf(host + ":" + strconv.Itoa(os.Getpid()))
}

// leftoversOf lists an owner's (host:pid) containers, networks and
// volumes, by their owner label; none when there is no docker command.
func leftoversOf(owner string) []string {
	filter := "label=" + containers.LabelOwner + "=" + owner
	var left []string
	for _, args := range [][]string{
		{"ps", "-a", "--filter", filter, "--format", "container {{.Names}}"},
		{"network", "ls", "--filter", filter, "--format", "network {{.Name}}"},
		{"volume", "ls", "--filter", filter, "--format", "volume {{.Name}}"},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			return nil
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				left = append(left, l)
			}
		}
	}
	return left
}

// Package tooltest runs external tools (mkvtoolnix, FFmpeg) from tests: a
// missing tool skips the test, unless CI demands every tool with
// CAMSTORM_REQUIRE_TOOLS=1, and a tool that fails or hangs fails it.
package tooltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Require returns the tool's path or skips (or, under
// CAMSTORM_REQUIRE_TOOLS=1, fails) the test with the package to install.
func Require(t testing.TB, tool, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not on PATH; install the Debian package %s (apt-get install %s)", tool, debianPackage, debianPackage)
	if os.Getenv("CAMSTORM_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " — required because CAMSTORM_REQUIRE_TOOLS=1")
	}
	t.Skip(msg)
	return ""
}

// Run runs a tool with a 30-second limit and returns its stdout and stderr;
// a non-zero exit fails the test with both.
func Run(t testing.TB, path string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(path), strings.Join(args, " "), err, Tail(out.String()), errOut.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s did not finish in 30 s", filepath.Base(path), strings.Join(args, " "))
	}
	return out.String(), errOut.String()
}

// Tail keeps the end of long tool output for a failure message.
func Tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

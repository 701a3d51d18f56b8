package containers

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// ownerChildEnv makes the test binary wait until its stdin closes and
// exit: a stand-in owner process that the test then lets die, as a
// crashed run.
const ownerChildEnv = "CAMSTORM_CONTAINERS_TEST_OWNER_CHILD"

// fakeOwners are the owner labels of the stand-in processes, whose
// leftovers TestMain also looks for.
var (
	fakeOwnersMu sync.Mutex
	fakeOwners   = map[string]bool{}
)

func TestMain(m *testing.M) {
	if os.Getenv(ownerChildEnv) == "1" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	// Before anything else: testcontainers reads its configuration once.
	if err := DisableReaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	if testBinaryDir != "" {
		_ = os.RemoveAll(testBinaryDir)
	}
	if err := nothingLeft(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: leftovers after the tests:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// nothingLeft fails when a container, network or volume of this process
// (or of the owners the tests fake) is still there, and removes them.
// Other processes' resources (another package testing in parallel, even
// a crashed one) are not looked at.
func nothingLeft() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if Available(ctx) != nil {
		return nil
	}
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	self := selfOwner()
	ours := func(labels map[string]string) bool {
		fakeOwnersMu.Lock()
		defer fakeOwnersMu.Unlock()
		o := labels[LabelOwner]
		return o == self || fakeOwners[o] || strings.HasPrefix(o, "elsewhere.test:")
	}
	left, err := listOurs(ctx, cli, ours)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		return nil
	}
	_, _ = removeMatching(ctx, cli, LabelStack+"=1", ours)
	return fmt.Errorf("%s (removed now)", strings.Join(left, ", "))
}

var (
	testImageOnce sync.Once
	testBinaryDir string
	testBinary    string
	testImageRef  string
	testImageErr  error
	testBuildTime time.Duration
)

// testImage builds camstorm from this checkout once per test binary and
// returns its image and the static binary in it.
func testImage(t testing.TB) (ref, bin string) {
	t.Helper()
	SkipIfNoDocker(t)
	testImageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if testBinaryDir, testImageErr = os.MkdirTemp("", "camstorm-containers-test-"); testImageErr != nil {
			return
		}
		testBinary = testBinaryDir + "/camstorm"
		start := time.Now()
		if testImageErr = buildBinary(ctx, "", testBinary, nil); testImageErr != nil {
			return
		}
		testBuildTime = time.Since(start)
		testImageRef, testImageErr = Image(ctx, ImageOptions{Binary: testBinary})
	})
	if testImageErr != nil {
		t.Fatal(testImageErr)
	}
	return testImageRef, testBinary
}

// newTestSession is a session closed (and checked empty) when the test
// ends.
func newTestSession(t *testing.T, opts SessionOptions) *Session {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := NewSession(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

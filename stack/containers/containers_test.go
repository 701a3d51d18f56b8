package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		pid  int
		ok   bool
	}{
		{"box:42", "box", 42, true},
		{"ci-runner.example:7", "ci-runner.example", 7, true},
		{"box:0", "", 0, false},
		{"box:-3", "", 0, false},
		{"box:", "", 0, false},
		{":42", "", 0, false},
		{"box", "", 0, false},
		{"", "", 0, false},
		{"box:4x", "", 0, false},
	} {
		host, pid, ok := parseOwner(tc.in)
		if host != tc.host || pid != tc.pid || ok != tc.ok {
			t.Errorf("parseOwner(%q) = %q, %d, %v; want %q, %d, %v", tc.in, host, pid, ok, tc.host, tc.pid, tc.ok)
		}
	}
}

func TestOwnerJudge(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	j := ownerJudge{host: "box", pid: 100, now: now, maxAge: 24 * time.Hour,
		alive: func(pid int) bool { return pid == 100 || pid == 200 }}
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"this process", map[string]string{LabelOwner: "box:100", LabelCreated: at(48 * time.Hour)}, false},
		{"live process on this host, however old", map[string]string{LabelOwner: "box:200", LabelCreated: at(480 * time.Hour)}, false},
		{"dead process on this host, just created", map[string]string{LabelOwner: "box:300", LabelCreated: at(0)}, true},
		{"dead process on this host, no time", map[string]string{LabelOwner: "box:300"}, true},
		{"other host, recent", map[string]string{LabelOwner: "other:300", LabelCreated: at(23 * time.Hour)}, false},
		{"other host, older than MaxAge", map[string]string{LabelOwner: "other:300", LabelCreated: at(25 * time.Hour)}, true},
		{"other host, no time", map[string]string{LabelOwner: "other:300"}, false},
		{"no owner, old", map[string]string{LabelCreated: at(25 * time.Hour)}, true},
		{"no owner, recent", map[string]string{LabelCreated: at(time.Hour)}, false},
		{"no owner, no time", map[string]string{}, true},
	} {
		if got := j.abandoned(tc.labels); got != tc.want {
			t.Errorf("%s: abandoned(%v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestCheckReaper(t *testing.T) {
	for _, v := range []string{"TRUE", "1", "True", ""} {
		t.Setenv(ryukEnv, v)
		err := checkReaper()
		if !errors.Is(err, ErrReaperEnabled) || !strings.Contains(err.Error(), "DisableReaper") {
			t.Errorf("%s=%q: checkReaper() = %v, want ErrReaperEnabled saying to call DisableReaper", ryukEnv, v, err)
		}
		if _, err := NewSession(context.Background(), SessionOptions{}); !errors.Is(err, ErrReaperEnabled) {
			t.Errorf("%s=%q: NewSession error = %v, want ErrReaperEnabled", ryukEnv, v, err)
		}
	}
	t.Setenv(ryukEnv, "true")
	if err := checkReaper(); err != nil {
		t.Errorf("%s=true: checkReaper() = %v, want nil", ryukEnv, err)
	}
}

// recordingTB records Skip and Fatal instead of ending the test.
type recordingTB struct {
	*testing.T
	skipped, fatal string
}

func (r *recordingTB) Helper()           {}
func (r *recordingTB) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recordingTB) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestSkipOrFail(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///run/nothing-here.sock")
	noDocker := unreachable(errors.New("dial unix /run/nothing-here.sock: connect: no such file or directory"))
	const sentence = "no Docker engine is reachable at unix:///run/nothing-here.sock: dial unix /run/nothing-here.sock: " +
		"connect: no such file or directory; containers mode needs Docker, the embedded stack does not"
	require.ErrorIs(t, noDocker, ErrNoDocker)
	require.Equal(t, sentence, noDocker.Error())
	for _, tc := range []struct {
		err                 error
		required            bool
		wantSkip, wantFatal string
	}{
		{nil, false, "", ""},
		{nil, true, "", ""},
		{noDocker, false, sentence, ""},
		{noDocker, true, "", sentence + " — required because CAMSTORM_REQUIRE_TOOLS=1"},
		{ErrReaperEnabled, false, "", ErrReaperEnabled.Error()},
	} {
		r := &recordingTB{T: t}
		skipOrFail(r, tc.err, tc.required)
		if r.skipped != tc.wantSkip || r.fatal != tc.wantFatal {
			t.Errorf("skipOrFail(%v, required=%v): skipped %q, fatal %q; want skipped %q, fatal %q",
				tc.err, tc.required, r.skipped, r.fatal, tc.wantSkip, tc.wantFatal)
		}
	}
}

func TestCheckStatic(t *testing.T) {
	_, bin := testImage(t)
	text := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	dynamic := "/bin/true"
	if _, err := os.Stat(dynamic); err != nil || checkStatic(dynamic) == nil {
		dynamic = ""
	}
	for _, tc := range []struct {
		path string
		want string // "" means accepted
	}{
		{bin, ""},
		{text, "not a statically linked Linux binary"},
		{filepath.Join(t.TempDir(), "missing"), "not a statically linked Linux binary"},
		{dynamic, "PT_INTERP"},
	} {
		if tc.path == "" {
			continue
		}
		err := checkStatic(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkStatic(%s) = %v, want nil", tc.path, err)
		case tc.want != "" && (!errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkStatic(%s) = %v, want ErrNotStatic mentioning %q", tc.path, err, tc.want)
		}
	}
}

func TestImage(t *testing.T) {
	ref, bin := testImage(t)
	ctx := context.Background()
	sum, err := fileSHA256(bin)
	require.NoError(t, err)
	require.Equal(t, ImageRepo+":"+sum[:16], ref)

	cli, err := newClient(ctx)
	require.NoError(t, err)
	defer cli.Close()
	first, err := cli.ImageInspect(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, []string{"/camstorm"}, first.Config.Entrypoint)
	require.Equal(t, map[string]string{LabelStack: "1", LabelBinarySHA256: sum, LabelRecipe: recipe}, first.Config.Labels)
	require.Len(t, first.RootFS.Layers, 2, "FROM scratch plus /tmp and the binary: no shell, nothing else")

	// The same binary again, given as a path, built from source, and via a
	// (dynamic, test) executable: the same image, not rebuilt.
	for _, opts := range []ImageOptions{{Binary: bin}, {}, {PreferExecutable: true}} {
		exe, _ := os.Executable()
		if opts.PreferExecutable && checkStatic(exe) == nil {
			continue // a static test binary would go into the image, as asked
		}
		start := time.Now()
		again, err := Image(ctx, opts)
		require.NoError(t, err, "Image(%+v)", opts)
		require.Equal(t, ref, again, "Image(%+v)", opts)
		t.Logf("Image(%+v) cached: %v", opts, time.Since(start))
		now, err := cli.ImageInspect(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, first.ID, now.ID, "Image(%+v) rebuilt the image", opts)
	}

	_, err = Image(ctx, ImageOptions{Binary: "/bin/true"})
	require.ErrorIs(t, err, ErrNotStatic)
	_, err = Image(ctx, ImageOptions{Dir: t.TempDir()})
	require.ErrorContains(t, err, "is not inside a Go module")
}

func TestSessionClose(t *testing.T) {
	ref, _ := testImage(t)
	ctx := context.Background()
	s, err := NewSession(ctx, SessionOptions{Logf: t.Logf})
	require.NoError(t, err)
	defer s.Close(ctx)

	nw, err := s.NewNetwork(ctx)
	require.NoError(t, err)
	vol, err := s.Volume(ctx, "data")
	require.NoError(t, err)
	again, err := s.Volume(ctx, "data")
	require.NoError(t, err)
	require.Equal(t, vol, again)

	c, err := s.Start(ctx, Spec{
		Name: "stack", Image: ref,
		Cmd:     []string{"stack", "up", "--data", "/data", "--metrics-listen", "0.0.0.0:8080"},
		Volumes: map[string]string{"data": "/data"},
		Network: nw, Aliases: []string{"kms"},
		Files:      []File{{ContainerPath: "/etc/camstorm/note", Content: []byte("hello"), Mode: 0o600}},
		Ports:      []PortSpec{{ContainerPort: 8080}},
		HealthPort: 8080, HealthPath: "/healthz",
	})
	require.NoError(t, err)
	got, err := c.ReadFile(ctx, "/etc/camstorm/note")
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))

	// Published on loopback only.
	ins, err := c.tc.Inspect(ctx)
	require.NoError(t, err)
	for port, bs := range ins.HostConfig.PortBindings {
		for _, b := range bs {
			require.Equal(t, loopback, b.HostIP.String(), "binding of %s", port)
		}
	}
	require.Equal(t, s.prefix()+"stack", strings.TrimPrefix(ins.Name, "/"))
	require.Equal(t, "stack", ins.Config.Labels[LabelRole])

	// Network faults: off the network and back under the same alias.
	require.NoError(t, c.Disconnect(ctx, nw))
	ins, err = c.tc.Inspect(ctx)
	require.NoError(t, err)
	require.NotContains(t, ins.NetworkSettings.Networks, nw.Name)
	require.NoError(t, c.Connect(ctx, nw))
	ins, err = c.tc.Inspect(ctx)
	require.NoError(t, err)
	require.Contains(t, ins.NetworkSettings.Networks, nw.Name)
	require.Contains(t, ins.NetworkSettings.Networks[nw.Name].Aliases, "kms")

	// Graceful stop and start again.
	require.NoError(t, c.Stop(ctx, 5*time.Second))
	require.NoError(t, c.Start(ctx))

	// A start that fails half-way: the container exits, the error shows its
	// log, and the container is still the session's to remove.
	_, err = s.Start(ctx, Spec{
		Name: "broken", Image: ref, Cmd: []string{"stack", "up", "--no-such-flag"},
		Ports: []PortSpec{{ContainerPort: 8080}}, HealthPort: 8080, HealthPath: "/healthz", StartupTimeout: 20 * time.Second,
	})
	require.ErrorContains(t, err, "container exited")
	require.ErrorContains(t, err, "no-such-flag", "the error carries the log")

	_, err = s.Start(ctx, Spec{Name: "Bad Name", Ports: []PortSpec{{ContainerPort: 70000}}, HealthPort: 1})
	require.ErrorContains(t, err, `name "Bad Name"`)
	require.ErrorContains(t, err, "image is empty")
	require.ErrorContains(t, err, "out of range")
	require.ErrorContains(t, err, "health port 1")

	require.Len(t, listSession(t, s.ID()), 4, "two containers, one network, one volume")
	// As on Ctrl-C: the context is already cancelled, Close still cleans up.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, s.Close(cancelled))
	require.Empty(t, listSession(t, s.ID()))
	require.NoError(t, s.Close(ctx), "second Close")
	_, err = s.Start(ctx, Spec{Name: "late", Image: ref})
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.NewNetwork(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

// listSession names the containers, networks and volumes with the
// session's label.
func listSession(t *testing.T, id string) []string {
	t.Helper()
	ctx := context.Background()
	cli, err := newClient(ctx)
	require.NoError(t, err)
	defer cli.Close()
	f := make(client.Filters).Add("label", LabelSession+"="+id)
	var names []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	for _, c := range cs.Items {
		names = append(names, "container "+containerName(c.Names, c.ID))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	for _, n := range ns.Items {
		names = append(names, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	require.NoError(t, err)
	for _, v := range vs.Items {
		names = append(names, "volume "+v.Name)
	}
	return names
}

// ownerProcess starts a stand-in owner (this test binary waiting on its
// stdin) and returns its owner label and a func that lets it die.
func ownerProcess(t *testing.T) (owner string, die func()) {
	t.Helper()
	host, err := os.Hostname()
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ownerChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	owner = host + ":" + strconv.Itoa(cmd.Process.Pid)
	fakeOwnersMu.Lock()
	fakeOwners[owner] = true
	fakeOwnersMu.Unlock()
	var once sync.Once
	die = func() {
		once.Do(func() {
			_ = stdin.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(die)
	require.True(t, processAlive(cmd.Process.Pid), "stand-in owner %d", cmd.Process.Pid)
	return owner, die
}

// leaveBehind creates what a crashed run leaves: a network, a volume and a
// running container, never closed.
func leaveBehind(t *testing.T, ref string, opts SessionOptions) *Session {
	t.Helper()
	ctx := context.Background()
	s, err := NewSession(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.cli.Close() })
	nw, err := s.NewNetwork(ctx)
	require.NoError(t, err)
	_, err = s.Start(ctx, Spec{
		Name: "ingest", Image: ref, Cmd: []string{"stack", "up", "--data", "/data"},
		Volumes: map[string]string{"data": "/data"}, Network: nw, Aliases: []string{"ingest"},
	})
	require.NoError(t, err)
	require.Len(t, listSession(t, s.ID()), 3)
	return s
}

func TestSweep(t *testing.T) {
	ref, _ := testImage(t)
	// Other packages' sessions sweep too (MaxAge 24 h by default): these
	// leftovers are older than this test's MaxAge of one hour, not theirs.
	const maxAge = time.Hour
	old := func() time.Time { return time.Now().Add(-2 * time.Hour) }

	// Not to be touched: a live owner (this process) and a recent one on
	// another host.
	live := newTestSession(t, SessionOptions{})
	_, err := live.Volume(context.Background(), "keep")
	require.NoError(t, err)
	recent := newTestSession(t, SessionOptions{Owner: "elsewhere.test:1"})
	_, err = recent.Volume(context.Background(), "keep")
	require.NoError(t, err)

	stale := leaveBehind(t, ref, SessionOptions{Owner: "elsewhere.test:1", Now: old})
	// A run that crashes: its owner lives while it creates, then dies.
	owner, die := ownerProcess(t)
	crashed := leaveBehind(t, ref, SessionOptions{Owner: owner})
	die() // (any session may sweep its leftovers from now on)
	require.Len(t, listSession(t, stale.ID()), 3)

	newTestSession(t, SessionOptions{MaxAge: maxAge})
	require.Empty(t, listSession(t, crashed.ID()), "leftovers of a dead owner on this host")
	require.Empty(t, listSession(t, stale.ID()), "leftovers older than MaxAge of another host")
	require.Len(t, listSession(t, live.ID()), 1, "a live owner's volume")
	require.Len(t, listSession(t, recent.ID()), 1, "a recent volume of another host")
}

func TestStartPicksAgainWhenPortTaken(t *testing.T) {
	ref, _ := testImage(t)
	ctx := context.Background()
	held, err := net.Listen("tcp", loopback+":0")
	require.NoError(t, err)
	defer held.Close()
	taken := held.Addr().(*net.TCPAddr).Port

	s := newTestSession(t, SessionOptions{})
	picks := 0
	s.pickPort = func() (int, error) {
		if picks++; picks == 1 {
			return taken, nil
		}
		return FreeLoopbackPort()
	}
	spec := Spec{Name: "metrics", Image: ref, Cmd: []string{"stack", "up", "--metrics-listen", "0.0.0.0:8080"},
		Ports: []PortSpec{{ContainerPort: 8080}}, HealthPort: 8080, HealthPath: "/healthz"}
	c, err := s.Start(ctx, spec)
	require.NoError(t, err)
	require.Equal(t, 2, picks)
	require.NotEqual(t, taken, c.HostPort(8080))

	// A port the caller fixed is not replaced.
	spec.Name = "fixed"
	spec.Ports = []PortSpec{{ContainerPort: 8080, HostPort: taken}}
	_, err = s.Start(ctx, spec)
	require.Error(t, err)
	require.True(t, isPortTaken(err), "error for a taken fixed port: %v", err)
}

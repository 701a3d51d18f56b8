package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Spec describes one container of a Session.
type Spec struct {
	// Name is the container's role (ingest, kms, identity, ...): lower-case
	// letters, digits and '-'; unique in the session. The Docker name is
	// camstorm-<session>-<Name>.
	Name string
	// Image is a reference returned by Image.
	Image string
	// Cmd are the arguments after the image's /camstorm entrypoint.
	Cmd []string
	// Env is the container's environment.
	Env map[string]string
	// Files are copied into the container before it starts.
	Files []File
	// Volumes maps a session volume name (Session.Volume, created if new)
	// to its absolute mount path in the container.
	Volumes map[string]string
	// Network, if set, attaches the container to it under Aliases (DNS
	// names the other containers on it use).
	Network *Network
	Aliases []string
	// Ports are published on 127.0.0.1 only.
	Ports []PortSpec
	// HealthPort and HealthPath: Start returns once GET HealthPath on this
	// plain-HTTP port (one of Ports) answers 200; no shell is needed in
	// the container. Zero HealthPort: Start returns once it runs.
	HealthPort int
	HealthPath string
	// StartupTimeout bounds the health wait; zero means 30 seconds.
	StartupTimeout time.Duration
}

// File is a file copied into a container before it starts.
type File struct {
	// ContainerPath is absolute.
	ContainerPath string
	Content       []byte
	// Mode is the permission bits; zero means 0644.
	Mode os.FileMode
}

// PortSpec publishes a container port on 127.0.0.1.
type PortSpec struct {
	ContainerPort int
	// HostPort is the loopback port; zero picks a free one before the
	// container is created, so it is known in advance and kept across
	// restarts. (Another process could take a picked port in between;
	// Start then fails with the engine's "port is already allocated".)
	HostPort int
	// TLS says the port speaks TLS: URL returns https.
	TLS bool
}

// Container is a running (or stopped) container of a Session.
type Container struct {
	// Name is Spec.Name.
	Name    string
	session *Session
	tc      *testcontainers.DockerContainer
	spec    Spec
	ports   map[int]PortSpec
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q must be 1-40 lower-case letters, digits or '-', starting with a letter or digit", name)
	}
	return nil
}

// validate reports every problem of the spec at once.
func (sp Spec) validate() error {
	var errs []error
	if err := checkName(sp.Name); err != nil {
		errs = append(errs, err)
	}
	if sp.Image == "" {
		errs = append(errs, errors.New("image is empty (use containers.Image)"))
	}
	for _, f := range sp.Files {
		if !path.IsAbs(f.ContainerPath) {
			errs = append(errs, fmt.Errorf("file path %q is not absolute", f.ContainerPath))
		}
	}
	for v, at := range sp.Volumes {
		if err := checkName(v); err != nil {
			errs = append(errs, fmt.Errorf("volume %w", err))
		}
		if !path.IsAbs(at) {
			errs = append(errs, fmt.Errorf("volume %s mount path %q is not absolute", v, at))
		}
	}
	seen := map[int]bool{}
	for _, p := range sp.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			errs = append(errs, fmt.Errorf("port %d -> %d is out of range", p.ContainerPort, p.HostPort))
		}
		if seen[p.ContainerPort] {
			errs = append(errs, fmt.Errorf("container port %d is listed twice", p.ContainerPort))
		}
		seen[p.ContainerPort] = true
	}
	if sp.HealthPort != 0 && !seen[sp.HealthPort] {
		errs = append(errs, fmt.Errorf("health port %d is not among the published ports", sp.HealthPort))
	}
	if sp.HealthPort != 0 && !strings.HasPrefix(sp.HealthPath, "/") {
		errs = append(errs, fmt.Errorf("health path %q must start with /", sp.HealthPath))
	}
	if len(sp.Aliases) > 0 && sp.Network == nil {
		errs = append(errs, errors.New("aliases given without a network"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("containers: spec %q: %w", sp.Name, err)
	}
	return nil
}

// Start creates and starts a container and waits until it is healthy. On
// failure the error carries the end of the container's log, and whatever
// was created is still the session's to remove on Close.
func (s *Session) Start(ctx context.Context, sp Spec) (*Container, error) {
	if err := sp.validate(); err != nil {
		return nil, err
	}
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()

	var mounts []mount.Mount
	for v, at := range sp.Volumes {
		full, err := s.volume(ctx, v)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: full, Target: at})
	}
	for attempt := 1; ; attempt++ {
		c, err := s.startOnce(ctx, sp, mounts)
		if err == nil || attempt == maxPortAttempts || !picksPorts(sp) || !isPortTaken(err) {
			return c, err
		}
		// Another process took a picked port between the pick and the
		// start: remove the container and try other ports.
		s.logger.Printf("containers: %s: a picked port was taken meanwhile, picking again: %v", sp.Name, err)
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, rmErr := s.cli.ContainerRemove(rmCtx, s.prefix()+sp.Name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if rmErr != nil && !errdefs.IsNotFound(rmErr) {
			return nil, errors.Join(err, fmt.Errorf("containers: remove %s to retry: %w", sp.Name, rmErr))
		}
	}
}

// maxPortAttempts bounds Start's retries when a picked port is taken.
const maxPortAttempts = 3

func picksPorts(sp Spec) bool {
	for _, p := range sp.Ports {
		if p.HostPort == 0 {
			return true
		}
	}
	return false
}

// isPortTaken recognises the engine's errors for a host port in use.
func isPortTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

func (s *Session) startOnce(ctx context.Context, sp Spec, mounts []mount.Mount) (*Container, error) {
	ports := make(map[int]PortSpec, len(sp.Ports))
	bindings := mobynet.PortMap{}
	var exposed []string
	for _, p := range sp.Ports {
		if p.HostPort == 0 {
			var err error
			if p.HostPort, err = s.pickPort(); err != nil {
				return nil, err
			}
		}
		ports[p.ContainerPort] = p
		port, err := mobynet.ParsePort(strconv.Itoa(p.ContainerPort) + "/tcp")
		if err != nil {
			return nil, fmt.Errorf("containers: port %d: %w", p.ContainerPort, err)
		}
		bindings[port] = []mobynet.PortBinding{{HostIP: netip.MustParseAddr(loopback), HostPort: strconv.Itoa(p.HostPort)}}
		exposed = append(exposed, port.String())
	}
	labels := s.Labels()
	labels[LabelRole] = sp.Name
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        sp.Image,
			Name:         s.prefix() + sp.Name,
			Cmd:          sp.Cmd,
			Env:          sp.Env,
			Labels:       labels,
			ExposedPorts: exposed,
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = bindings
				hc.Mounts = append(hc.Mounts, mounts...)
			},
		},
		Started: true,
		Logger:  s.logger,
	}
	if sp.Network != nil {
		req.Networks = []string{sp.Network.Name}
		req.NetworkAliases = map[string][]string{sp.Network.Name: sp.Aliases}
	}
	for _, f := range sp.Files {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		req.Files = append(req.Files, testcontainers.ContainerFile{
			Reader: bytes.NewReader(f.Content), ContainerFilePath: f.ContainerPath, FileMode: int64(mode),
		})
	}
	if sp.HealthPort != 0 {
		timeout := sp.StartupTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		req.WaitingFor = &healthWait{url: "http://" + net.JoinHostPort(loopback, strconv.Itoa(ports[sp.HealthPort].HostPort)) + sp.HealthPath, timeout: timeout}
	}
	tc, err := testcontainers.GenericContainer(ctx, req)
	var dc *testcontainers.DockerContainer
	if tc != nil {
		dc, _ = tc.(*testcontainers.DockerContainer)
	}
	c := &Container{Name: sp.Name, session: s, tc: dc, spec: sp, ports: ports}
	if err != nil {
		return nil, fmt.Errorf("containers: start %s: %w%s", sp.Name, err, c.logTail(context.WithoutCancel(ctx)))
	}
	if dc == nil {
		return nil, fmt.Errorf("containers: start %s: testcontainers returned %T, not a Docker container", sp.Name, tc)
	}
	return c, nil
}

const loopback = "127.0.0.1"

// healthWait polls a plain-HTTP health URL on the loopback port until it
// answers 200, failing early when the container stops. testcontainers'
// wait.ForHTTP would dial the host it infers for the engine, which inside
// a container is the bridge gateway, where nothing is published: ports
// here are bound to 127.0.0.1 only.
type healthWait struct {
	url     string
	timeout time.Duration
}

var _ wait.Strategy = (*healthWait)(nil)

func (w *healthWait) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: not healthy within %v: %w", w.url, w.timeout, last)
		case <-tick.C:
		}
		st, err := target.State(ctx)
		if err != nil {
			return fmt.Errorf("container state: %w", err)
		}
		if !st.Running {
			return fmt.Errorf("container exited with code %d before GET %s answered", st.ExitCode, w.url)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
	}
}

// FreeLoopbackPort asks the kernel for a free port on 127.0.0.1, for a
// PortSpec.HostPort a caller must know before the container starts.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		return 0, fmt.Errorf("containers: pick a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ID is the Docker container id.
func (c *Container) ID() string { return c.tc.GetContainerID() }

// HostPort is the loopback port containerPort is published on, 0 if it is
// not published.
func (c *Container) HostPort(containerPort int) int { return c.ports[containerPort].HostPort }

// URL is https://127.0.0.1:<host port> (http for a port without TLS) for a
// published container port, "" for another.
func (c *Container) URL(containerPort int) string {
	p, ok := c.ports[containerPort]
	if !ok {
		return ""
	}
	scheme := "http"
	if p.TLS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(loopback, strconv.Itoa(p.HostPort))
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. The container, its volumes and port bindings stay for Start.
func (c *Container) Stop(ctx context.Context, grace time.Duration) error {
	secs := int((grace + time.Second - 1) / time.Second)
	if _, err := c.cli().ContainerStop(ctx, c.ID(), client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("containers: stop %s: %w", c.Name, err)
	}
	return nil
}

// Kill sends SIGKILL, as a crash would, and returns once the container has
// stopped.
func (c *Container) Kill(ctx context.Context) error {
	waited := c.cli().ContainerWait(ctx, c.ID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	if _, err := c.cli().ContainerKill(ctx, c.ID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("containers: kill %s: %w", c.Name, err)
	}
	select {
	case <-waited.Result:
		return nil
	case err := <-waited.Error:
		return fmt.Errorf("containers: kill %s: wait for exit: %w", c.Name, err)
	case <-ctx.Done():
		return fmt.Errorf("containers: kill %s: %w", c.Name, ctx.Err())
	}
}

// Start starts the stopped container again — same file system, volumes and
// ports — and waits until it is healthy as the first start did.
func (c *Container) Start(ctx context.Context) error {
	if err := c.tc.Start(ctx); err != nil {
		return fmt.Errorf("containers: restart %s: %w%s", c.Name, err, c.logTail(context.WithoutCancel(ctx)))
	}
	return nil
}

// Disconnect takes the container off the network (its peers then fail to
// reach it), as a network fault would.
func (c *Container) Disconnect(ctx context.Context, n *Network) error {
	if _, err := c.cli().NetworkDisconnect(ctx, n.ID, client.NetworkDisconnectOptions{Container: c.ID(), Force: true}); err != nil {
		return fmt.Errorf("containers: disconnect %s from %s: %w", c.Name, n.Name, err)
	}
	return nil
}

// Connect attaches the container to the network again, under the aliases
// of its Spec when it is the Spec's network.
func (c *Container) Connect(ctx context.Context, n *Network) error {
	es := &mobynet.EndpointSettings{}
	if c.spec.Network != nil && c.spec.Network.ID == n.ID {
		es.Aliases = c.spec.Aliases
	}
	if _, err := c.cli().NetworkConnect(ctx, n.ID, client.NetworkConnectOptions{Container: c.ID(), EndpointConfig: es}); err != nil {
		return fmt.Errorf("containers: connect %s to %s: %w", c.Name, n.Name, err)
	}
	return nil
}

// maxLogBytes bounds what Logs returns (the end of the log is kept).
const maxLogBytes = 4 << 20

// Logs returns the container's stdout and stderr so far, interleaved, at
// most the last 4 MiB.
func (c *Container) Logs(ctx context.Context) ([]byte, error) {
	rc, err := c.tc.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("containers: logs of %s: %w", c.Name, err)
	}
	defer rc.Close()
	var tail tailBuffer
	if _, err := io.Copy(&tail, rc); err != nil {
		return tail.Bytes(), fmt.Errorf("containers: logs of %s: %w", c.Name, err)
	}
	return tail.Bytes(), nil
}

// tailBuffer keeps the last maxLogBytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*maxLogBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-maxLogBytes:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	if len(t.b) > maxLogBytes {
		return t.b[len(t.b)-maxLogBytes:]
	}
	return t.b
}

// logTail is appended to start errors: the last lines of the log.
func (c *Container) logTail(ctx context.Context) string {
	if c.tc == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	logs, err := c.Logs(ctx)
	if err != nil || len(logs) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(logs), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "; last log lines:\n" + strings.Join(lines, "\n")
}

// maxFileBytes bounds ReadFile.
const maxFileBytes = 16 << 20

// ReadFile copies a file (at most 16 MiB) out of the container, running or
// stopped.
func (c *Container) ReadFile(ctx context.Context, containerPath string) ([]byte, error) {
	rc, err := c.tc.CopyFileFromContainer(ctx, containerPath)
	if err != nil {
		return nil, fmt.Errorf("containers: read %s from %s: %w", containerPath, c.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("containers: read %s from %s: %w", containerPath, c.Name, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("containers: %s in %s is larger than %d bytes", containerPath, c.Name, maxFileBytes)
	}
	return b, nil
}

// Terminate removes the container now (its named volumes stay until the
// session closes). A container already gone is not an error.
func (c *Container) Terminate(ctx context.Context) error {
	_, err := c.cli().ContainerRemove(ctx, c.ID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containers: remove %s: %w", c.Name, err)
	}
	return nil
}

func (c *Container) cli() *testcontainers.DockerClient { return c.session.cli }

// Bounds of ReadDir.
const (
	maxDirBytes = 256 << 20
	maxDirFiles = 10_000
)

// ReadDir returns the regular files under containerPath in the container
// (running or stopped), by their path relative to it. For tests that
// inspect what a service keeps on its volume.
func (c *Container) ReadDir(ctx context.Context, containerPath string) (map[string][]byte, error) {
	res, err := c.cli().CopyFromContainer(ctx, c.ID(), client.CopyFromContainerOptions{SourcePath: containerPath})
	if err != nil {
		return nil, fmt.Errorf("containers: read %s from %s: %w", containerPath, c.Name, err)
	}
	defer res.Content.Close()
	files := map[string][]byte{}
	total := 0
	tr := tar.NewReader(res.Content)
	base := path.Base(path.Clean(containerPath))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("containers: read %s from %s: %w", containerPath, c.Name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if len(files) == maxDirFiles || total+int(h.Size) > maxDirBytes {
			return nil, fmt.Errorf("containers: %s in %s holds more than %d files or %d bytes", containerPath, c.Name, maxDirFiles, maxDirBytes)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("containers: read %s from %s: %w", h.Name, c.Name, err)
		}
		total += len(b)
		files[strings.TrimPrefix(strings.TrimPrefix(h.Name, base), "/")] = b
	}
}

package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
)

// Labels on everything this package creates.
const (
	// LabelStack=1 marks networks, volumes, containers and images of
	// camstorm's stack.
	LabelStack = "dev.camstorm.stack"
	// LabelSession is the Session's random id.
	LabelSession = "dev.camstorm.session"
	// LabelOwner is "<hostname>:<pid>" of the process that created it.
	LabelOwner = "dev.camstorm.owner"
	// LabelCreated is the creation time, RFC 3339 in UTC.
	LabelCreated = "dev.camstorm.created"
	// LabelRole is a container's Spec.Name (ingest, kms, ...).
	LabelRole = "dev.camstorm.role"
	// LabelBinarySHA256 is the SHA-256 of the binary in an image.
	LabelBinarySHA256 = "dev.camstorm.binary-sha256"
	// LabelRecipe is the version of the Dockerfile an image was built by.
	LabelRecipe = "dev.camstorm.image-recipe"
)

// SessionOptions configure a Session. Zero values take the defaults noted.
type SessionOptions struct {
	// Logf receives progress lines (testcontainers' included); nil
	// discards them. Tests pass t.Logf.
	Logf func(format string, args ...any)
	// Now stamps LabelCreated and ages leftovers in Sweep; nil means
	// time.Now.
	Now func() time.Time
	// Rand draws the session id; nil means crypto/rand.
	Rand io.Reader
	// Owner overrides "<hostname>:<pid>" in LabelOwner. Only tests set it,
	// to leave resources that look like a crashed process's.
	Owner string
	// MaxAge is how old a leftover of a process on another host must be
	// before Sweep removes it (its liveness cannot be checked from here).
	// Zero means 24 hours.
	MaxAge time.Duration
	// CloseTimeout bounds Close; zero means 30 seconds.
	CloseTimeout time.Duration
}

// Session owns the networks, volumes and containers it creates (and images
// handed to RemoveImageOnClose) and removes all of them on Close.
type Session struct {
	id           string
	labels       map[string]string
	cli          *testcontainers.DockerClient
	logger       tclog.Logger
	closeTimeout time.Duration
	// pickPort chooses a free loopback port for PortSpec.HostPort 0.
	pickPort func() (int, error)

	// busy is held shared by calls that create resources and exclusively
	// by Close, so nothing is created behind Close's back.
	busy    sync.RWMutex
	mu      sync.Mutex
	closing bool
	closed  bool
	volumes map[string]string
	images  []string
}

// NewSession connects to Docker, sweeps leftovers of dead owners (Sweep)
// and returns an empty session. The caller must Close it, also when a
// later call fails.
func NewSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	if err := checkReaper(); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [6]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return nil, fmt.Errorf("containers: session id: %w", err)
	}
	owner := opts.Owner
	if owner == "" {
		owner = selfOwner()
	}
	closeTimeout := opts.CloseTimeout
	if closeTimeout <= 0 {
		closeTimeout = 30 * time.Second
	}
	var logger tclog.Logger = tclog.NewNoopLogger()
	if opts.Logf != nil {
		logger = logfLogger(opts.Logf)
	}
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{
		id: hex.EncodeToString(b[:]),
		labels: map[string]string{
			LabelStack:   "1",
			LabelOwner:   owner,
			LabelCreated: now().UTC().Format(time.RFC3339),
		},
		cli:          cli,
		logger:       logger,
		closeTimeout: closeTimeout,
		pickPort:     FreeLoopbackPort,
		volumes:      map[string]string{},
	}
	s.labels[LabelSession] = s.id
	swept, err := Sweep(ctx, SweepOptions{MaxAge: opts.MaxAge, Now: now})
	if err != nil {
		logger.Printf("containers: sweeping leftovers failed (continuing): %v", err)
	}
	if n := swept.Count(); n > 0 {
		logger.Printf("containers: removed %d leftovers of dead owners: %v", n, swept)
	}
	return s, nil
}

type logfLogger func(format string, args ...any)

func (l logfLogger) Printf(format string, args ...any) { l(format, args...) }

func selfOwner() string { return ownerOf(os.Getpid()) }

// ownerOf is the LabelOwner value of process pid on this host.
func ownerOf(pid int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(pid)
}

// ID is the session's random id, the value of LabelSession.
func (s *Session) ID() string { return s.id }

// Labels returns a copy of the labels put on everything the session
// creates.
func (s *Session) Labels() map[string]string { return maps.Clone(s.labels) }

// prefix starts every Docker name of the session.
func (s *Session) prefix() string { return "camstorm-" + s.id + "-" }

// ErrClosed is returned by calls on a closed (or closing) Session.
var ErrClosed = errors.New("containers: session is closed")

// enter marks a creating call; the returned func ends it.
func (s *Session) enter() (func(), error) {
	s.busy.RLock()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		s.busy.RUnlock()
		return nil, ErrClosed
	}
	return s.busy.RUnlock, nil
}

// Network is a user-defined bridge network of a Session; containers on it
// reach each other by their aliases.
type Network struct {
	// Name is the Docker network name.
	Name string
	// ID is the Docker network id.
	ID string
}

// NewNetwork creates a user-defined bridge network with the session's
// labels.
func (s *Session) NewNetwork(ctx context.Context) (*Network, error) {
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	nw, err := network.New(ctx, network.WithLabels(s.labels))
	if err != nil {
		return nil, fmt.Errorf("containers: create network: %w", err)
	}
	return &Network{Name: nw.Name, ID: nw.ID}, nil
}

// Volume returns the Docker name of the session's named volume called
// name, creating it (labelled) on first use. Data in it outlives the
// containers that mount it, until Close.
func (s *Session) Volume(ctx context.Context, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("containers: volume %w", err)
	}
	leave, err := s.enter()
	if err != nil {
		return "", err
	}
	defer leave()
	return s.volume(ctx, name)
}

// volume is Volume for callers that already entered (a nested enter
// could deadlock behind a waiting Close).
func (s *Session) volume(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	full, ok := s.volumes[name]
	s.mu.Unlock()
	if ok {
		return full, nil
	}
	full = s.prefix() + name
	if _, err := s.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: full, Labels: s.labels}); err != nil {
		return "", fmt.Errorf("containers: create volume %s: %w", full, err)
	}
	s.mu.Lock()
	s.volumes[name] = full
	s.mu.Unlock()
	return full, nil
}

// RemoveImageOnClose makes Close remove the image ref too (unless a
// container outside the session still uses it). Images are otherwise kept
// as a cache keyed by the binary's hash.
func (s *Session) RemoveImageOnClose(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images = append(s.images, ref)
}

// Close removes every container, network and volume carrying the session's
// label — also those of a Start that failed half-way — and the images
// handed to RemoveImageOnClose. It waits for calls in progress, is bounded
// by SessionOptions.CloseTimeout even when ctx is already cancelled (so it
// runs on Ctrl-C), and may be called again: after a success it does
// nothing, after a failure it retries.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.busy.Lock()
	defer s.busy.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	images := slices.Clone(s.images)
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.closeTimeout)
	defer cancel()
	_, err := removeMatching(ctx, s.cli, LabelSession+"="+s.id, nil)
	for _, ref := range images {
		err = errors.Join(err, removeImage(ctx, s.cli, ref))
	}
	if err != nil {
		return fmt.Errorf("containers: close session %s: %w", s.id, err)
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.cli.Close()
	return nil
}

// removeMatching removes the containers, then networks, then volumes that
// carry label (key=value) and that remove accepts (nil: all); it returns
// the names removed.
func removeMatching(ctx context.Context, cli *testcontainers.DockerClient, label string, remove func(map[string]string) bool) (Swept, error) {
	var swept Swept
	var errs []error
	f := make(client.Filters).Add("label", label)
	if remove == nil {
		remove = func(map[string]string) bool { return true }
	}

	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return swept, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		if !remove(c.Labels) {
			continue
		}
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !errdefs.IsNotFound(err) && !isRemovalInProgress(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", containerName(c.Names, c.ID), err))
			continue
		}
		swept.Containers = append(swept.Containers, containerName(c.Names, c.ID))
	}

	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return swept, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if !remove(n.Labels) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		swept.Networks = append(swept.Networks, n.Name)
	}

	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return swept, errors.Join(append(errs, fmt.Errorf("list volumes: %w", err))...)
	}
	for _, v := range vs.Items {
		if !remove(v.Labels) {
			continue
		}
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		swept.Volumes = append(swept.Volumes, v.Name)
	}
	return swept, errors.Join(errs...)
}

func containerName(names []string, id string) string {
	if len(names) > 0 {
		n := names[0]
		if len(n) > 0 && n[0] == '/' {
			n = n[1:]
		}
		return n
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func isRemovalInProgress(err error) bool {
	return err != nil && errdefs.IsConflict(err)
}

package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SweepOptions configure Sweep. Zero values take the defaults noted.
type SweepOptions struct {
	// MaxAge is how old a leftover of a process on another host must be
	// before it is removed; zero means 24 hours.
	MaxAge time.Duration
	// Now is the clock leftovers are aged by; nil means time.Now.
	Now func() time.Time
}

// Swept names what Sweep removed.
type Swept struct {
	Containers, Networks, Volumes []string
}

// Count is the number of resources removed.
func (s Swept) Count() int { return len(s.Containers) + len(s.Networks) + len(s.Volumes) }

// Sweep removes the containers, networks and volumes labelled
// dev.camstorm.stack=1 whose owner is gone: a process on this host that no
// longer exists, or — as liveness cannot be checked across hosts — a
// process elsewhere whose resources are older than MaxAge. Resources of
// live processes are never touched, however old: a second camstorm or
// another test package may be using them right now. Images are a cache and
// not swept (Image prunes old ones).
func Sweep(ctx context.Context, opts SweepOptions) (Swept, error) {
	if err := checkReaper(); err != nil {
		return Swept{}, err
	}
	cli, err := newClient(ctx)
	if err != nil {
		return Swept{}, err
	}
	defer cli.Close()
	maxAge := opts.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	host, _ := os.Hostname()
	j := ownerJudge{host: host, pid: os.Getpid(), now: now(), maxAge: maxAge, alive: processAlive}
	swept, err := removeMatching(ctx, cli, LabelStack+"=1", j.abandoned)
	if err != nil {
		return swept, fmt.Errorf("containers: sweep: %w", err)
	}
	return swept, nil
}

// ownerJudge decides from a resource's labels whether its owner is gone.
type ownerJudge struct {
	host   string
	pid    int
	now    time.Time
	maxAge time.Duration
	alive  func(pid int) bool
}

func (j ownerJudge) abandoned(labels map[string]string) bool {
	host, pid, ok := parseOwner(labels[LabelOwner])
	if ok && host == j.host {
		return pid != j.pid && !j.alive(pid)
	}
	// Another host, or an owner label we cannot read: only age tells.
	created, err := time.Parse(time.RFC3339, labels[LabelCreated])
	if err != nil {
		// Nobody can claim a resource without owner and time; a
		// resource of ours should never look like this.
		return !ok
	}
	return j.now.Sub(created) > j.maxAge
}

// parseOwner splits "<hostname>:<pid>".
func parseOwner(s string) (host string, pid int, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(s[i+1:])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return s[:i], pid, true
}

// processAlive reports whether a process with that id exists on this host.
// When that cannot be told (no permission, an unsupported system) it says
// yes: keeping a leftover is better than removing a live stack.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	switch {
	case err == nil:
		return true
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, syscall.ESRCH):
		return false
	default:
		return true
	}
}

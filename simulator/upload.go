package simulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/wait"
)

// uploader is the producer's sending side: one PutMedia session at a time
// over the shared buffer, reconnecting with backoff and rollback
// (kvs-protocol.md §4.1, §4.4-§4.7).
type uploader struct {
	c        *Camera
	r        *run
	hc       *http.Client
	endpoint endpointCache
	backoff  backoff
	// next is the id of the first fragment not yet sent in full by the
	// current (or last) session.
	next uint64
	// draining are rotated-out sessions still waiting for their last PERSISTED.
	draining sync.WaitGroup
	// planned: the last session ended by plan (a rotation), so the next
	// one is not a reconnect.
	planned bool
	// tokenBound: the current session rotates because the credentials
	// that signed it are about to be renewed, so the next one must be
	// signed with new ones.
	tokenBound bool
}

// aliveErrors are the ERROR ACKs after which the SDK still considers the
// host alive, so it resumes after the last RECEIVED instead of replaying
// (CONNECTION_DROPPED_HOST_ALIVE, §4.4).
func aliveError(id kvsapi.ErrorID) bool {
	switch {
	case id == kvsapi.ErrStreamRead, id == kvsapi.ErrMaxConnectionDuration, id == kvsapi.ErrStreamNotActive,
		id >= 4500 && id <= 4507, id == kvsapi.ErrInternal, id == kvsapi.ErrArchival:
		return true
	}
	return false
}

// upload runs sessions until everything captured is delivered or the drain
// deadline passes. ctx ending stops capture; the uploader then drains for
// at most FinalAckTimeout.
func (r *run) upload(ctx context.Context) {
	c := r.c
	u := &uploader{c: c, r: r, hc: c.target.Client(),
		backoff: backoff{base: c.cfg.BackoffBase, cap: c.cfg.BackoffCap, rng: c.rng}}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	// The drain deadline starts when capture ends.
	var once sync.Once
	drain := func(d time.Duration) { once.Do(func() { time.AfterFunc(d, cancel) }) }
	stop := context.AfterFunc(ctx, func() { drain(c.cfg.FinalAckTimeout) })
	defer stop()
	defer u.draining.Wait()

	alive := true
	for first := true; ; first = false {
		if r.isDone() {
			drain(c.cfg.DrainTimeout)
		}
		if u.delivered() || uctx.Err() != nil {
			return
		}
		if !first {
			if !wait.For(uctx, u.backoff.next()) {
				return
			}
		}
		if !u.endpoint.valid(c.cfg.Clock(), c.cfg.EndpointCache) {
			if err := u.prepare(uctx); err != nil {
				if errors.Is(err, errStreamReset) {
					r.resetStream()
					continue
				}
				return
			}
		}
		u.rollback(alive)
		s, err := u.connect(uctx)
		if err != nil {
			alive, u.planned = false, false
			continue
		}
		out := s.stream(uctx)
		alive, u.planned = out.alive, out.rotated
		if out.progress {
			u.backoff.reset()
		}
		if out.invalidateEndpoint {
			u.endpoint = endpointCache{}
		}
		if out.rotated {
			u.backoff.reset()
			first = true // reconnect at once
			if u.tokenBound {
				u.renewCredentials()
			}
		}
	}
}

// connect opens a PutMedia session on the cached data endpoint.
func (u *uploader) connect(ctx context.Context) (*session, error) {
	c := u.c
	res := u.r.res
	pm, err := kvsclient.StartPutMedia(ctx, u.hc, u.endpoint.dataEndpoint, kvsclient.PutMediaOptions{
		StreamName: c.cfg.StreamName, ProducerTime: c.cfg.Clock(),
	})
	u.r.mu.Lock()
	defer u.r.mu.Unlock()
	if err != nil {
		res.Counters.ConnectFailures++
		res.fail(PhaseConnect, failureKind(err), err)
		var e *kvsapi.Exception
		if errors.As(err, &e) && e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden {
			// The C SDK maps 404 and every unmapped status to DESCRIBE.
			u.endpoint = endpointCache{}
		}
		return nil, err
	}
	reconnect := res.Counters.Sessions > 0 && !u.planned
	if reconnect {
		res.Counters.Reconnects++
	}
	res.Counters.Sessions++
	if c.cfg.OnSession != nil {
		c.cfg.OnSession(reconnect)
	}
	now := c.cfg.Clock()
	period := c.cfg.Rotation
	if period > 5*time.Minute {
		// randomizeAuthInfoExpiration: up to 10 % early, at most 3 min.
		period -= time.Duration(c.rng.Int64N(int64(min(period/10, rotationJitterMax))))
	}
	u.tokenBound = false
	if left, ok := u.tokenLeft(ctx); ok && left-tokenGrace < period {
		// The session rotates before the credentials that signed it
		// expire (STREAMING_TOKEN_EXPIRATION_GRACE_PERIOD).
		period, u.tokenBound = max(left-tokenGrace, 0), true
	}
	return newSession(u, pm, now.Add(period)), nil
}

// tokenGrace: a session rotates when its credentials have less than this
// left (the SDK's STREAMING_TOKEN_EXPIRATION_GRACE_PERIOD).
const tokenGrace = 3 * time.Second

// tokenLeft is how long the credentials that signed the session just
// opened remain valid, when they expire at all.
func (u *uploader) tokenLeft(ctx context.Context) (time.Duration, bool) {
	if u.c.target.Credentials == nil {
		return 0, false
	}
	creds, err := u.c.target.Credentials.Retrieve(ctx) // cached: the ones just used
	if err != nil || !creds.CanExpire {
		return 0, false
	}
	return time.Until(creds.Expires), true
}

// renewCredentials makes the next request fetch new credentials, when the
// target's provider caches them (aws.CredentialsCache): a cache hands out
// its credentials until shortly before they expire, and the session that
// replaces one rotated for its token must not be signed with the same.
func (u *uploader) renewCredentials() {
	if c, ok := u.c.target.Credentials.(interface{ Invalidate() }); ok {
		c.Invalidate()
	}
}

// rollback chooses where the next session starts (§4.4): after the newest
// fragment acknowledged RECEIVED when the host looked alive, otherwise far
// enough back to cover ReplayDuration; never before the oldest buffered
// fragment. Fragments sent before are resent.
func (u *uploader) rollback(alive bool) {
	r := u.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frags) == 0 {
		u.next = r.nextID
		return
	}
	head := r.frags[0].id
	start := max(u.next, head)
	if newest := r.byID(min(u.next, r.nextID-1)); newest != nil {
		limit := newest.tc - u.c.cfg.ReplayDuration.Milliseconds()
		for id := min(u.next, r.nextID-1); ; id-- {
			f := r.byID(id)
			if alive && f.received && f.id < u.next {
				break
			}
			start = id
			if f.tc <= limit || id == head {
				break
			}
		}
	}
	u.next = start
}

// delivered reports that capture has ended and nothing buffered can still
// be delivered: everything is PERSISTED, skipped or orphaned.
func (u *uploader) delivered() bool {
	r := u.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		return false
	}
	for _, f := range r.frags {
		if !f.persisted && !f.skip && !f.orphan {
			return false
		}
	}
	return true
}

func (r *run) isDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// resetStream throws the buffer away after a control-plane step failed
// stateRetries times, as the producer-c continuous-retry handler does
// (kvsStreamResetStream → contentViewRemoveAll).
func (r *run) resetStream() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Counters.StreamResets++
	for len(r.frags) > 0 && r.frags[0] != r.open {
		r.discardHead(DropStreamReset)
	}
}

// finish settles the account once capture and upload are over: fragments
// never sent in full are dropped as undelivered, those sent but never
// PERSISTED are unconfirmed. A camera that did not get every fragment it
// produced acknowledged reports why.
func (r *run) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.frags) > 0 {
		r.discardHead(DropUndelivered)
	}
	missing := r.res.Counters.Fragments - r.settled
	switch {
	case r.captureErr != nil:
		r.res.Failure = &Failure{Phase: PhaseStream, Kind: "capture", Message: r.captureErr.Error()}
	case missing <= 0:
		r.res.Failure = nil // every problem along the way was recovered from
	default:
		msg := fmt.Sprintf("%d of %d fragments were not acknowledged", missing, r.res.Counters.Fragments)
		if f := r.res.Failure; f != nil {
			msg += "; last problem: " + f.String()
		}
		r.res.Failure = &Failure{Phase: PhaseFinish, Kind: KindNotPersisted, Message: msg}
	}
}

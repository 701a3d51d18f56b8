package devicecheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/internal/devicerecord"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/iam"
)

// Options configure a device-check bench.
type Options struct {
	// Stream is the device's stream; the bench creates it when missing.
	Stream string
	// Schedule holds the faults injected into Stream's PutMedia sessions.
	Schedule Schedule
	// Stack configures the embedded reference stack (listen addresses,
	// data directory, ingest settings); Ingest.SessionHook is the bench's.
	Stack stack.Options
	// RetentionHours for the created stream (PERSISTED needs > 0); 0 means 2.
	RetentionHours int
	// CredentialLifetime is how long the device's temporary credentials
	// last: 15 min to 1 h (STS's bounds); 0 means 1 h. A check that runs
	// longer shows whether the device refreshes them.
	CredentialLifetime time.Duration
	// Now is the record's clock; nil means time.Now.
	Now func() time.Time
}

// Bench is the reference stack with a Check on one stream, and temporary
// credentials for the device.
type Bench struct {
	*stack.Stack
	Check *Check
	// Credentials are temporary credentials (the admin role, assumed
	// through the stack's STS) a device without its own identity can use.
	Credentials aws.Credentials
}

// Start starts the stack with the check as its ingest's session hook and
// creates the stream.
func Start(ctx context.Context, o Options) (*Bench, error) {
	if !kvsapi.ValidStreamName(o.Stream) {
		return nil, fmt.Errorf("devicecheck: stream name %q must be 1-%d characters of [a-zA-Z0-9_.-]", o.Stream, kvsapi.MaxStreamNameLen)
	}
	c := New(o.Stream, o.Schedule, o.Now)
	so := o.Stack
	so.Ingest.SessionHook = c
	st, err := stack.StartEmbedded(ctx, so)
	if err != nil {
		return nil, err
	}
	b := &Bench{Stack: st, Check: c}
	fail := func(err error) (*Bench, error) {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(cctx)
		return nil, err
	}
	retention := o.RetentionHours
	if retention == 0 {
		retention = 2
	}
	err = kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: o.Stream, MediaType: "video/h264", DataRetentionInHours: retention}, nil)
	if err != nil && !kvsclient.IsException(err, kvsapi.ExcResourceInUse) {
		return fail(fmt.Errorf("devicecheck: creating stream %s: %w", o.Stream, err))
	}
	cred, err := b.IssueCredentials(o.CredentialLifetime)
	if err != nil {
		return fail(err)
	}
	b.Credentials = cred
	c.SetCredentialLifetime(cmp.Or(o.CredentialLifetime, iam.DefaultSessionDuration))
	return b, nil
}

// IssueCredentials returns new temporary credentials of the admin role for
// the device, lasting lifetime (0: 1 h; STS allows 15 min to 1 h).
func (b *Bench) IssueCredentials(lifetime time.Duration) (aws.Credentials, error) {
	svc := b.IAM()
	cred, err := svc.AssumeRole(svc.AdminCredential().Principal, b.AdminRoleARN, "device-check", lifetime)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("devicecheck: temporary credentials for the device: %w", err)
	}
	return aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken,
		CanExpire: true, Expires: cred.Expiration, Source: "camstorm device-check"}, nil
}

// ErrNoDevice is returned by Wait when no device connected before the
// deadline.
var ErrNoDevice = errors.New("devicecheck: no device streamed into the check")

// Wait returns when the device has stopped (it opened at least one
// PutMedia, none is open, and none came for quiet), when maxDuration has
// passed (0: no limit), or when ctx ends; the device having stopped is
// the only outcome that returns nil.
func (b *Bench) Wait(ctx context.Context, quiet, maxDuration time.Duration) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var deadline <-chan time.Time
	if maxDuration > 0 {
		tm := time.NewTimer(maxDuration)
		defer tm.Stop()
		deadline = tm.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			if b.Check.Sessions() == 0 {
				return ErrNoDevice
			}
			return context.DeadlineExceeded
		case <-tick.C:
			if b.Check.stoppedFor(quiet) {
				return nil
			}
		}
	}
}

// stoppedFor reports whether sessions came, all ended, and the last ended
// at least quiet ago.
func (c *Check) stoppedFor(quiet time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rec.Sessions) == 0 {
		return false
	}
	var last time.Time
	for _, s := range c.rec.Sessions {
		if s.End.IsZero() {
			return false
		}
		if s.End.After(last) {
			last = s.End
		}
	}
	return c.now().Sub(last) >= quiet
}

// Finish closes the stack (ending open sessions, so they are recorded) and
// returns the record.
func (b *Bench) Finish(ctx context.Context) (*devicerecord.Record, error) {
	err := b.Stack.Close(ctx)
	return b.Check.Record(), err
}

package simulator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/internal/wait"
)

// endpointCache is what the SDK caches from the control plane
// (API_CALL_CACHE_TYPE_ALL): the stream's description and data endpoint.
type endpointCache struct {
	dataEndpoint string
	fetched      time.Time
}

// valid reports whether the cached endpoint may still be used.
func (e *endpointCache) valid(now time.Time, maxAge time.Duration) bool {
	return e.dataEndpoint != "" && now.Sub(e.fetched) < maxAge
}

// errStreamReset is returned when a control-plane step failed stateRetries
// times in a row.
var errStreamReset = errors.New("control plane step failed repeatedly")

// prepare runs the control-plane steps the producer SDK takes before
// streaming (kvs-protocol.md §4.1): DescribeStream, CreateStream only on
// ResourceNotFoundException, DescribeStream until ACTIVE, then
// GetDataEndpoint(PUT_MEDIA). Each step is retried with backoff; after
// stateRetries failures of one step it gives up with errStreamReset (the
// caller resets the stream). Errors other than that mean ctx ended.
func (u *uploader) prepare(ctx context.Context) error {
	c := u.c
	ref := kvsapi.StreamRef{StreamName: c.cfg.StreamName}
	res := u.r.res
	step := func(phase Phase, call func() error) error {
		for attempt := 1; ; attempt++ {
			err := call()
			if err == nil {
				return nil
			}
			res.Counters.ControlFailures++
			res.fail(phase, failureKind(err), err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt >= stateRetries {
				return fmt.Errorf("%w: %s: %w", errStreamReset, phase, err)
			}
			if !wait.For(ctx, u.backoff.next()) {
				return context.Canceled
			}
		}
	}
	var info kvsapi.StreamInfo
	err := step(PhaseDescribe, func() error {
		var err error
		info, err = u.describe(ctx, ref)
		if kvsclient.IsException(err, kvsapi.ExcResourceNotFound) {
			return nil // create it below
		}
		return err
	})
	if err != nil {
		return err
	}
	if info.StreamName == "" {
		in := kvsapi.CreateStreamInput{StreamName: c.cfg.StreamName, MediaType: mediaType(c.cfg.Source.Track()),
			DataRetentionInHours: c.cfg.RetentionHours}
		err := step(PhaseCreate, func() error {
			err := u.call(ctx, kvsapi.PathCreateStream, in, nil)
			switch {
			case err == nil:
				res.CreatedStream = true
			case kvsclient.IsException(err, kvsapi.ExcResourceInUse):
				// Created meanwhile by someone else: use it.
			default:
				return err
			}
			info, err = u.waitActive(ctx, ref)
			return err
		})
		if err != nil {
			return err
		}
	} else if info.Status != kvsapi.StatusActive {
		if err := step(PhaseDescribe, func() (err error) { info, err = u.waitActive(ctx, ref); return err }); err != nil {
			return err
		}
	}
	res.RetentionHours = info.DataRetentionInHours
	var out kvsapi.GetDataEndpointOutput
	err = step(PhaseEndpoint, func() error {
		if err := u.call(ctx, kvsapi.PathGetDataEndpoint, kvsapi.GetDataEndpointInput{StreamRef: ref, APIName: "PUT_MEDIA"}, &out); err != nil {
			return err
		}
		if out.DataEndpoint == "" {
			return errors.New("GetDataEndpoint returned no DataEndpoint")
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.endpoint = endpointCache{dataEndpoint: out.DataEndpoint, fetched: c.cfg.Clock()}
	res.Failure = nil // recovered
	return nil
}

func (u *uploader) call(ctx context.Context, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	return kvsclient.Call(ctx, u.hc, u.c.target.ControlPlaneURL, path, in, out)
}

func (u *uploader) describe(ctx context.Context, ref kvsapi.StreamRef) (kvsapi.StreamInfo, error) {
	var out kvsapi.DescribeStreamOutput
	err := u.call(ctx, kvsapi.PathDescribeStream, ref, &out)
	return out.StreamInfo, err
}

// waitActive repeats DescribeStream until the stream is ACTIVE, as the SDK
// does while it is CREATING (bounded by activeWait).
func (u *uploader) waitActive(ctx context.Context, ref kvsapi.StreamRef) (kvsapi.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, activeWait)
	defer cancel()
	t := time.NewTicker(activePoll)
	defer t.Stop()
	for {
		info, err := u.describe(ctx, ref)
		if err != nil && !kvsclient.IsException(err, kvsapi.ExcResourceNotFound) {
			return info, err
		}
		if err == nil && info.Status == kvsapi.StatusActive {
			return info, nil
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("stream %s not ACTIVE (last status %q): %w", ref.StreamName, info.Status, ctx.Err())
		case <-t.C:
		}
	}
}

func mediaType(t mkv.TrackSpec) string {
	switch t.CodecID {
	case mkv.CodecH264:
		return "video/h264"
	case "V_MPEGH/ISO/HEVC":
		return "video/h265"
	}
	return ""
}

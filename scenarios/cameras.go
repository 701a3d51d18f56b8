package scenarios

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/scenarios/segment"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/netem"
)

// CameraOptions describe the cameras of a camera scenario: which network
// profiles and camera kinds, in what shares, what they film and how they
// encrypt.
type CameraOptions struct {
	// Profiles and Mix are weights by netem profile and camera kind, e.g.
	// {"perfect": 80, "flaky-wifi": 20}; defaults: all perfect, the fleet's mix.
	Profiles map[string]int `json:"profiles,omitempty"`
	Mix      map[string]int `json:"mix,omitempty"`
	// Synthetic cameras' media.
	BitrateBps int       `json:"bitrate,omitempty"`
	FPS        int       `json:"fps,omitempty"`
	GOP        *Duration `json:"gop,omitempty"`
	// Resolution is WIDTHxHEIGHT, e.g. "320x240" (default 1280x720); low
	// bitrates need small frames.
	Resolution string `json:"resolution,omitempty"`
	// RotateKeyAfter is the E2EE epoch length (default: the e2ee default).
	RotateKeyAfter *Duration `json:"rotateKeyAfter,omitempty"`
	// BufferDuration is the producer's buffer (default: the SDK's).
	BufferDuration *Duration `json:"bufferDuration,omitempty"`
	Plaintext      bool      `json:"plaintext,omitempty"`
	// Verify reads every stream back at the end (default true): it emits
	// camera_lost and camera_integrity_failures.
	Verify *bool `json:"verify,omitempty"`
}

func (o CameraOptions) validate() []string {
	var p []string
	check := func(field string, w map[string]int, known []string) {
		for _, name := range slices.Sorted(maps.Keys(w)) {
			if !slices.Contains(known, name) {
				p = append(p, fmt.Sprintf("%s: %q unknown (known: %v)", field, name, known))
			}
			if w[name] < 0 {
				p = append(p, fmt.Sprintf("%s: %q has a negative weight", field, name))
			}
		}
	}
	check("profiles", o.Profiles, netem.ProfileNames())
	check("mix", o.Mix, []string{fleet.KindClip, fleet.KindSynthetic})
	if o.RotateKeyAfter != nil && o.RotateKeyAfter.D() < time.Second {
		p = append(p, fmt.Sprintf("rotateKeyAfter must be at least 1s (got %s): an E2EE epoch shorter than a fragment seals nothing", o.RotateKeyAfter))
	}
	if o.GOP != nil && (o.GOP.D() < 100*time.Millisecond || o.GOP.D() > 10*time.Second) {
		p = append(p, fmt.Sprintf("gop must be from 100ms to 10s (got %s)", o.GOP))
	}
	if _, _, err := o.size(); err != nil {
		p = append(p, err.Error())
	}
	if o.BitrateBps < 0 || o.FPS < 0 {
		p = append(p, "bitrate and fps must be 0 (default) or more")
	}
	return p
}

// size reads Resolution; 0x0 means the default.
func (o CameraOptions) size() (w, h int, err error) {
	if o.Resolution == "" {
		return 0, 0, nil
	}
	if _, err := fmt.Sscanf(o.Resolution, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("resolution %q: want WIDTHxHEIGHT, e.g. 320x240", o.Resolution)
	}
	return w, h, nil
}

func weights(m map[string]int) fleet.Weights {
	var w fleet.Weights
	for _, name := range slices.Sorted(maps.Keys(m)) {
		w = append(w, fleet.Weight{Name: name, Weight: m[name]})
	}
	return w
}

// ConstantCameras streams Cameras cameras for Duration.
type ConstantCameras struct {
	BaseConfig
	Cameras  *int64    `json:"cameras,omitempty"`
	Duration *Duration `json:"duration,omitempty"`
	CameraOptions
}

// Base implements ExecutorConfig.
func (c *ConstantCameras) Base() *BaseConfig               { return &c.BaseConfig }
func (c *ConstantCameras) usesJS() bool                    { return false }
func (c *ConstantCameras) cameraOptions() CameraOptions    { return c.CameraOptions }
func (c *ConstantCameras) regular() time.Duration          { return orDuration(c.Duration, 0) }
func (c *ConstantCameras) total() time.Duration            { return c.regular() + c.gracefulStop() }
func (c *ConstantCameras) initialVUs(*segment.Tuple) int64 { return 0 }
func (c *ConstantCameras) maxVUs(*segment.Tuple) int64     { return 0 }
func (c *ConstantCameras) steps() []step                   { return []step{{0, orInt(c.Cameras, 1)}, {c.regular(), 0}} }
func (c *ConstantCameras) rampDown() time.Duration         { return 0 }
func (c *ConstantCameras) run(s *scenarioRun) error        { return runCameras(s, c) }

func (c *ConstantCameras) validate() []string {
	var p []string
	if n := orInt(c.Cameras, 1); n <= 0 || n > maxPlanUnits {
		p = append(p, fmt.Sprintf("cameras must be from 1 to %d (got %d)", maxPlanUnits, n))
	}
	if c.Duration == nil {
		p = append(p, "duration is required, e.g. \"1m\"")
	} else if c.regular() < time.Second {
		p = append(p, fmt.Sprintf("duration must be at least 1s (got %s)", c.regular()))
	}
	return append(p, c.CameraOptions.validate()...)
}

// RampingCameras moves the number of streaming cameras through Stages, as
// ramping-vus moves VUs. A camera removed by a ramp-down stops filming and
// delivers what it buffered within GracefulRampDown.
type RampingCameras struct {
	BaseConfig
	StartCameras     *int64    `json:"startCameras,omitempty"`
	Stages           []Stage   `json:"stages"`
	GracefulRampDown *Duration `json:"gracefulRampDown,omitempty"`
	CameraOptions
}

// Base implements ExecutorConfig.
func (c *RampingCameras) Base() *BaseConfig               { return &c.BaseConfig }
func (c *RampingCameras) usesJS() bool                    { return false }
func (c *RampingCameras) cameraOptions() CameraOptions    { return c.CameraOptions }
func (c *RampingCameras) regular() time.Duration          { return stagesTotal(c.Stages) }
func (c *RampingCameras) total() time.Duration            { return c.regular() + c.gracefulStop() }
func (c *RampingCameras) initialVUs(*segment.Tuple) int64 { return 0 }
func (c *RampingCameras) maxVUs(*segment.Tuple) int64     { return 0 }
func (c *RampingCameras) steps() []step                   { return rampSteps(orInt(c.StartCameras, 0), c.Stages) }
func (c *RampingCameras) rampDown() time.Duration {
	return orDuration(c.GracefulRampDown, DefaultGracefulRampDown)
}
func (c *RampingCameras) run(s *scenarioRun) error { return runCameras(s, c) }

func (c *RampingCameras) validate() []string {
	return append(validateStages(orInt(c.StartCameras, 0), c.Stages, "cameras (startCameras)"), c.CameraOptions.validate()...)
}

// cameraScenario is what runCameras needs of a camera executor.
type cameraScenario interface {
	ExecutorConfig
	cameraOptions() CameraOptions
	steps() []step
	rampDown() time.Duration
}

// cameraSlot is one place in a camera plan; each start of it is a new
// camera (a new stream), so a stream always has one producer run.
type cameraSlot struct {
	global  int64 // the slot's global index
	starts  int64
	running *cameras.Running
	cancel  context.CancelFunc
	timer   *time.Timer
}

// runCameras runs a camera plan: at each step cameras start (lowest slot
// first) or stop (highest first); a stopped camera delivers its buffer
// within the ramp-down grace, then is cut; at the end all stop and get the
// graceful stop. With Verify on, every stream is then read back.
func runCameras(s *scenarioRun, c cameraScenario) error {
	f := s.test.fleets[s.base.Name]
	if f == nil {
		return fmt.Errorf("scenario %s: no camera fleet", s.base.Name)
	}
	global := c.steps()
	steps := ownedSteps(global, s.tuple)
	span := maxCount(global) // slot generations are spaced by the global maximum
	_, hard, cancel := s.deadlines(s.test.ctx, c.regular())
	defer cancel()
	var (
		mu    sync.Mutex
		slots []*cameraSlot
		all   []*cameras.Running
	)
	stop := func(sl *cameraSlot, grace time.Duration) {
		if sl.running == nil {
			return
		}
		sl.running.Stop()
		s.trace(Event{Kind: EventVUStop, VU: sl.global})
		cancelCam := sl.cancel
		if grace <= 0 {
			cancelCam()
		} else {
			sl.timer = time.AfterFunc(grace, cancelCam)
		}
		sl.running = nil
	}
	for _, st := range steps {
		if !wait.Until(hard, s.start.Add(st.At)) {
			break
		}
		mu.Lock()
		for int64(len(slots)) < st.Count {
			i := int64(len(slots))
			g := i
			if s.tuple != nil {
				g = s.tuple.GlobalIndex(i)
			}
			slots = append(slots, &cameraSlot{global: g})
		}
		for i := len(slots) - 1; i >= 0; i-- {
			sl := slots[i]
			switch {
			case int64(i) < st.Count && sl.running == nil:
				ctx, cancelCam := context.WithCancel(hard)
				index := sl.global + sl.starts*span
				sl.starts++
				sl.running, sl.cancel = f.Start(ctx, index, s.tags), cancelCam
				all = append(all, sl.running)
				s.trace(Event{Kind: EventVUStart, VU: index})
				id := f.Identity(index)
				startTags := cloneTags(s.tags)
				startTags["profile"], startTags["kind"] = id.Profile, id.Kind
				s.test.emit(results.Sample{Metric: s.test.builtin.cameraStarts, Time: time.Now(), Value: 1, Tags: startTags})
			case int64(i) >= st.Count:
				stop(sl, c.rampDown())
			}
		}
		mu.Unlock()
	}
	for _, sl := range slots {
		stop(sl, time.Until(s.start.Add(c.total())))
	}
	for _, r := range all {
		select {
		case <-r.Done():
		case <-s.test.ctx.Done():
			<-r.Done()
		}
	}
	for _, sl := range slots {
		if sl.timer != nil {
			sl.timer.Stop()
		}
		if sl.cancel != nil {
			sl.cancel()
		}
	}
	if o := c.cameraOptions(); (o.Verify == nil || *o.Verify) && s.test.ctx.Err() == nil {
		s.test.logf("info", "scenario %s: reading back %d streams to count lost fragments", s.base.Name, len(all))
		vs := f.Verify(s.test.ctx, 8)
		s.test.noteCameras(vs.Worst)
	}
	return nil
}

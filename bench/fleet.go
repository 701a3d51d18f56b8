package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/pki"
)

// Camera shape of the fleet benchmarks: the 128 kbit/s, 15 fps
// camera with a one-second GOP, E2EE on.
const (
	cameraBitrate = 128_000
	cameraFPS     = 15
	cameraGOP     = time.Second
	// MemoryGoal is the per-camera steady-state memory the simulator aims at.
	MemoryGoal = 64 << 10
)

// StackProvider starts a target for one measurement and returns how to
// stop it. The CLI starts `camstorm stack up` as a child process, so the
// stack's memory, CPU and file descriptors are not the cameras'; nil means
// an embedded stack in this process.
type StackProvider func(ctx context.Context) (simulator.Target, func(), error)

// inProcess starts an embedded stack in this process.
func inProcess(ctx context.Context) (simulator.Target, func(), error) {
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	if err != nil {
		return simulator.Target{}, nil, err
	}
	hc := st.HTTPClient()
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}, func() {
		hc.CloseIdleConnections()
		_ = st.Close(context.Background())
	}, nil
}

// MemoryOptions configure CameraMemory.
type MemoryOptions struct {
	Cameras int           // default 1000
	Ramp    time.Duration // camera starts spread over this long; default 10s
	Settle  time.Duration // after the ramp, before sampling; default 10s
	Samples int           // one a second, the median is reported; default 5
	Stack   StackProvider // nil: in this process (its memory then counts as the cameras')
	// Progress, if set, hears what the benchmark is doing.
	Progress func(format string, args ...any)
	// ProfileDir, if set, receives a heap profile at the last sample
	// (cameras-heap.pprof).
	ProfileDir string
}

// MemoryResult is what CameraMemory measured.
type MemoryResult struct {
	Cameras int `json:"cameras"`
	// PerCamera is Go heap in use plus goroutine stacks, minus the same
	// before the cameras started, minus the media they buffer unacknowledged,
	// divided by the cameras (median of the samples).
	PerCamera int64 `json:"per_camera_bytes"`
	// Buffered is the unacknowledged media per camera, excluded above.
	Buffered int64 `json:"buffered_per_camera_bytes"`
	// GoroutinesPerCamera and RSSPerCamera (resident set growth) for context.
	GoroutinesPerCamera float64 `json:"goroutines_per_camera"`
	RSSPerCamera        int64   `json:"rss_per_camera_bytes"`
	// GoalRatio is PerCamera / MemoryGoal: at most 1 meets the goal.
	GoalRatio float64 `json:"goal_ratio"`
	// StackInProcess is set when the stack ran in this process, so its
	// per-session memory is included.
	StackInProcess bool `json:"stack_in_process"`
}

// CameraMemory runs Cameras real-time E2EE cameras at 128 kbit/s into the
// stack and measures what each costs in steady state, excluding the media
// it still buffers for want of a PERSISTED ACK.
func CameraMemory(ctx context.Context, o MemoryOptions) (MemoryResult, error) {
	if o.Cameras == 0 {
		o.Cameras = 1000
	}
	if o.Ramp == 0 {
		o.Ramp = 10 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 10 * time.Second
	}
	if o.Samples == 0 {
		o.Samples = 5
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	res := MemoryResult{Cameras: o.Cameras, StackInProcess: o.Stack == nil}
	provider := o.Stack
	if provider == nil {
		provider = inProcess
	}
	target, stop, err := provider(ctx)
	if err != nil {
		return res, err
	}
	defer stop()
	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	if err != nil {
		return res, err
	}
	cams := make([]*simulator.Camera, o.Cameras)
	for i := range cams {
		src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: cameraBitrate, FPS: cameraFPS, GOP: cameraGOP,
			Seed: int64(i + 1), Width: 320, Height: 240})
		if err != nil {
			return res, err
		}
		if cams[i], err = simulator.NewCamera(simulator.CameraConfig{StreamName: fmt.Sprintf("mem-%05d", i), Source: src,
			Recipients: []e2ee.PublicKey{key.Public()}, Seed: uint64(i + 1)}, target); err != nil {
			return res, err
		}
	}
	heap0, goroutines0, rss0 := memNow()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	until := time.Now().Add(24 * time.Hour) // cancelled after sampling
	for i, c := range cams {
		wg.Go(func() {
			if !wait.For(runCtx, o.Ramp*time.Duration(i)/time.Duration(len(cams))) {
				return
			}
			if r := c.Run(runCtx, until); r.Failure != nil && r.Failure.Kind != simulator.KindCanceled && runCtx.Err() == nil {
				failed.Add(1)
			}
		})
	}
	progress("%d cameras starting over %s, then %s to settle", o.Cameras, o.Ramp, o.Settle)
	if !wait.For(ctx, o.Ramp+o.Settle) {
		return res, ctx.Err()
	}
	var perCam, buffered, rss []int64
	var goroutines []float64
	for s := range o.Samples {
		var held int64
		for _, c := range cams {
			held += c.Buffered()
		}
		heap, g, r := memNow()
		n := int64(o.Cameras)
		perCam = append(perCam, (heap-heap0-held)/n)
		buffered = append(buffered, held/n)
		rss = append(rss, (r-rss0)/n)
		goroutines = append(goroutines, float64(g-goroutines0)/float64(n))
		progress("sample %d: %d B/camera (+%d B buffered media), %.1f goroutines/camera", s+1, perCam[s], held/n, goroutines[s])
		if s == o.Samples-1 && o.ProfileDir != "" {
			if err := writeProfile(filepath.Join(o.ProfileDir, "cameras-heap.pprof"), pprof.WriteHeapProfile); err != nil {
				return res, err
			}
		}
		if !wait.For(ctx, time.Second) {
			return res, ctx.Err()
		}
	}
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return res, fmt.Errorf("bench: %d cameras failed while streaming", n)
	}
	res.PerCamera, res.Buffered, res.RSSPerCamera = median(perCam), median(buffered), median(rss)
	slices.Sort(goroutines)
	res.GoroutinesPerCamera = goroutines[len(goroutines)/2]
	res.GoalRatio = float64(res.PerCamera) / MemoryGoal
	return res, nil
}

// memNow returns heap in use plus stacks after a collection, the number
// of goroutines and the resident set size.
func memNow() (heap int64, goroutines int, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse), runtime.NumGoroutine(), residentBytes()
}

// residentBytes reads VmRSS from /proc (0 where there is none).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// GoodputOptions configure FleetGoodput.
type GoodputOptions struct {
	Cameras    int           // concurrent cameras and baseline connections; default 16
	BitrateBps int           // synthetic media per camera (sent faster than real time); default 8 Mbit/s
	Warmup     time.Duration // not counted; default 3s
	Duration   time.Duration // counted; default 10s
	// Dir holds the stack's data and the disk baseline's file (same disk);
	// default os.TempDir(). On tmpfs the disk drops out of the comparison.
	Dir      string
	Progress func(format string, args ...any)
	// ProfileDir, if set, receives CPU profiles of the two measured
	// windows (goodput-rawtls.pprof, goodput-fleet.pprof).
	ProfileDir string
}

// GoodputResult is what FleetGoodput measured.
type GoodputResult struct {
	Cameras  int        `json:"cameras"`
	Baseline Throughput `json:"baseline"` // raw TLS loopback
	Fleet    Throughput `json:"fleet"`    // PERSISTED media bytes
	Ratio    float64    `json:"ratio"`    // Fleet / Baseline
	// Disk is the raw storage ceiling on the same disk: AES-256-GCM and
	// fdatasync group commit of the fragment sizes the fleet persisted
	// (as bench ingest measures it); DiskRatio is Fleet / Disk.
	Disk      Throughput `json:"disk"`
	DiskRatio float64    `json:"disk_ratio"`
}

// FleetGoodput compares, in one process, the media bytes a fleet of E2EE
// cameras gets PERSISTED by an embedded stack per second with what the
// same number of raw TLS loopback connections move per second to a server
// that discards them. The ratio is what the whole camera → ingest → disk
// path keeps of the bare transport.
func FleetGoodput(ctx context.Context, o GoodputOptions) (GoodputResult, error) {
	if o.Cameras == 0 {
		o.Cameras = 16
	}
	if o.BitrateBps == 0 {
		o.BitrateBps = 8_000_000
	}
	if o.Warmup == 0 {
		o.Warmup = 3 * time.Second
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	res := GoodputResult{Cameras: o.Cameras}
	progress("raw TLS loopback: %d connections for %s", o.Cameras, o.Warmup+o.Duration)
	var err error
	if res.Baseline, err = rawTLS(ctx, o.Cameras, o.Warmup, o.Duration, profileAt(o.ProfileDir, "goodput-rawtls.pprof")); err != nil {
		return res, err
	}
	progress("fleet: %d offline E2EE cameras at %.1f Mbit/s of media for %s", o.Cameras, float64(o.BitrateBps)/1e6, o.Warmup+o.Duration)
	var sizes []int
	if res.Fleet, sizes, err = fleetPersisted(ctx, o); err != nil {
		return res, err
	}
	res.Ratio = res.Fleet.MBps / res.Baseline.MBps
	progress("disk ceiling: AES-256-GCM + fdatasync of the same %d fragments in %s", len(sizes), o.Dir)
	syscall.Sync()
	f, err := os.CreateTemp(o.Dir, "camstorm-disk-baseline-*")
	if err != nil {
		return res, err
	}
	f.Close()
	defer os.Remove(f.Name())
	if res.Disk, err = sealAndSync(ctx, f.Name(), sizes, o.Cameras); err != nil {
		return res, err
	}
	res.DiskRatio = res.Fleet.MBps / res.Disk.MBps
	return res, nil
}

// chunk is the baseline's write size: a fragment's frames arrive in
// writes of about this size when cameras send faster than real time.
const chunk = 64 << 10

// rawTLS moves bytes over n TLS 1.3 loopback connections to a server that
// discards them, counting what arrives during the measured window.
func rawTLS(ctx context.Context, n int, warmup, d time.Duration, profile string) (Throughput, error) {
	// The stack's own kind of CA and certificate, so the TLS setup matches.
	dir, err := os.MkdirTemp("", "camstorm-rawtls-*")
	if err != nil {
		return Throughput{}, err
	}
	defer os.RemoveAll(dir)
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		return Throughput{}, err
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		return Throughput{}, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS(cert))
	if err != nil {
		return Throughput{}, err
	}
	defer ln.Close()
	var counting atomic.Bool
	var received atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, chunk)
				for {
					m, err := c.Read(buf)
					if counting.Load() {
						received.Add(int64(m))
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	runCtx, cancel := context.WithCancel(ctx)
	var conns []net.Conn
	for range n {
		c, err := tls.Dial("tcp", ln.Addr().String(), ca.ClientTLS())
		if err != nil {
			cancel()
			return Throughput{}, err
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		wg.Go(func() {
			payload := make([]byte, chunk)
			fillUnique(payload, uint64(i))
			for runCtx.Err() == nil {
				if _, err := c.Write(payload); err != nil {
					return
				}
			}
		})
	}
	wait.For(ctx, warmup)
	stopProfile, err := startProfile(profile)
	if err != nil {
		cancel()
		return Throughput{}, err
	}
	counting.Store(true)
	start := time.Now()
	wait.For(ctx, d)
	counting.Store(false)
	elapsed := time.Since(start)
	stopProfile()
	cancel()
	for _, c := range conns {
		c.Close()
	}
	ln.Close()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Throughput{}, err
	}
	return throughput(received.Load(), 0, elapsed), nil
}

// fillUnique fills b with bytes that differ per connection and do not
// repeat, so nothing on the path can compress or de-duplicate them.
func fillUnique(b []byte, seed uint64) {
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// fleetPersisted runs offline cameras against an in-process stack and
// counts the bytes of fragments acknowledged PERSISTED in the window, and
// their sizes.
func fleetPersisted(ctx context.Context, o GoodputOptions) (Throughput, []int, error) {
	dir, err := os.MkdirTemp(o.Dir, "camstorm-goodput-*")
	if err != nil {
		return Throughput{}, nil, err
	}
	defer os.RemoveAll(dir)
	st, err := stack.StartEmbedded(ctx, stack.Options{DataDir: dir})
	if err != nil {
		return Throughput{}, nil, err
	}
	defer st.Close(context.Background())
	hc := st.HTTPClient()
	defer hc.CloseIdleConnections()
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	var sizesMu sync.Mutex
	var sizes []int
	var (
		counting  atomic.Bool
		persisted atomic.Int64
		frags     atomic.Int64
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := fleet.Config{
		Cameras: o.Cameras, Duration: 24 * time.Hour, Seed: 1, StreamPrefix: "goodput", Ramp: fleet.NoRamp,
		Mix:           fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}},
		Synthetic:     media.SyntheticConfig{BitrateBps: o.BitrateBps, FPS: cameraFPS, GOP: cameraGOP, Width: 1280, Height: 720},
		LiveConsumers: fleet.NoLiveConsumers,
		Camera:        fleet.CameraTuning{Offline: true, BufferDuration: 10 * time.Second, FinalAckTimeout: time.Second, DrainTimeout: time.Second},
	}
	plan, err := fleet.Plan(cfg)
	if err != nil {
		return Throughput{}, nil, err
	}
	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	if err != nil {
		return Throughput{}, nil, err
	}
	var wg sync.WaitGroup
	for _, p := range plan {
		src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: o.BitrateBps, FPS: cameraFPS, GOP: cameraGOP,
			Seed: int64(p.Seed), Width: 1280, Height: 720})
		if err != nil {
			return Throughput{}, nil, err
		}
		cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: p.Stream, Source: src, Seed: p.Seed,
			Recipients: []e2ee.PublicKey{key.Public()}, Offline: true, BufferDuration: 10 * time.Second,
			FinalAckTimeout: time.Second, DrainTimeout: time.Second,
			OnAck: func(a kvsapi.Ack, info simulator.AckInfo) {
				if a.EventType == kvsapi.EventPersisted && counting.Load() {
					persisted.Add(int64(info.Bytes))
					frags.Add(1)
					sizesMu.Lock()
					sizes = append(sizes, info.Bytes)
					sizesMu.Unlock()
				}
			}}, target)
		if err != nil {
			return Throughput{}, nil, err
		}
		wg.Go(func() { cam.Run(runCtx, time.Now().Add(24*time.Hour)) })
	}
	wait.For(ctx, o.Warmup)
	stopProfile, err := startProfile(profileAt(o.ProfileDir, "goodput-fleet.pprof"))
	if err != nil {
		return Throughput{}, nil, err
	}
	counting.Store(true)
	start := time.Now()
	wait.For(ctx, o.Duration)
	counting.Store(false)
	elapsed := time.Since(start)
	stopProfile()
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Throughput{}, nil, err
	}
	if persisted.Load() == 0 {
		return Throughput{}, nil, errors.New("bench: no fragment was PERSISTED in the window")
	}
	return throughput(persisted.Load(), int(frags.Load()), elapsed), sizes, nil
}

// CapacityOptions configure FleetCapacity.
type CapacityOptions struct {
	// Steps are the fleet sizes tried, smallest first; the search stops at
	// the first that misses the SLO. Default 500, 1000, 2000, 4000, 6000,
	// 8000, 10000.
	Steps []int
	// Duration of each step once all cameras run; default 30s. Ramp
	// spreads starts; default 20s.
	Duration time.Duration
	Ramp     time.Duration
	// SLO: PERSISTED ACK p99 below this (default 2s), nothing lost.
	SLO time.Duration
	// Stack starts a fresh stack for each step; nil: in this process.
	Stack StackProvider
	// ProfileDir, if set, receives a CPU profile of this process per step
	// (cameras-N.pprof).
	ProfileDir string
	Progress   func(format string, args ...any)
}

// CapacityStep is one fleet size tried.
type CapacityStep struct {
	Cameras      int      `json:"cameras"`
	PersistedP50 float64  `json:"persisted_p50_ms"`
	PersistedP99 float64  `json:"persisted_p99_ms"`
	LostFrames   uint64   `json:"lost_frames"`
	Problems     []string `json:"problems,omitempty"`
	// CPU is this process's CPU time over the step's wall time, in cores.
	CPU  float64 `json:"cpu_cores"`
	Pass bool    `json:"pass"`
}

// CapacityResult is what FleetCapacity found.
type CapacityResult struct {
	Steps []CapacityStep `json:"steps"`
	// Largest is the largest fleet that met the SLO (0: none).
	Largest int `json:"largest"`
}

// FleetCapacity runs fleets of real-time 128 kbit/s, 15 fps E2EE cameras of
// growing size, each against a fresh stack, until one misses the SLO
// (PERSISTED p99 under SLO and nothing lost), and reports every step.
func FleetCapacity(ctx context.Context, o CapacityOptions) (CapacityResult, error) {
	if len(o.Steps) == 0 {
		o.Steps = []int{500, 1000, 2000, 4000, 6000, 8000, 10000}
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.Ramp == 0 {
		o.Ramp = 20 * time.Second
	}
	if o.SLO == 0 {
		o.SLO = 2 * time.Second
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	provider := o.Stack
	if provider == nil {
		provider = inProcess
	}
	var res CapacityResult
	for _, n := range o.Steps {
		step, err := capacityStep(ctx, n, o, provider, progress)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, step)
		progress("%d cameras: PERSISTED p99 %.0f ms, lost %d, %.2f cores: pass=%v %v", n, step.PersistedP99, step.LostFrames, step.CPU, step.Pass, step.Problems)
		if !step.Pass {
			break
		}
		res.Largest = n
	}
	return res, nil
}

func capacityStep(ctx context.Context, n int, o CapacityOptions, provider StackProvider, progress func(string, ...any)) (CapacityStep, error) {
	step := CapacityStep{Cameras: n}
	target, stop, err := provider(ctx)
	if err != nil {
		return step, err
	}
	defer stop()
	if o.ProfileDir != "" {
		f, err := os.Create(filepath.Join(o.ProfileDir, fmt.Sprintf("cameras-%d.pprof", n)))
		if err != nil {
			return step, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return step, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, wall0 := cpuTime(), time.Now()
	rep, err := fleet.Run(ctx, fleet.Config{
		Cameras: n, Duration: o.Duration, Ramp: o.Ramp, Seed: 1, StreamPrefix: fmt.Sprintf("cap%d", n),
		Mix:       fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}},
		Synthetic: media.SyntheticConfig{BitrateBps: cameraBitrate, FPS: cameraFPS, GOP: cameraGOP, Width: 320, Height: 240},
	}, target, func(p fleet.Progress) {
		if int(p.Elapsed.Seconds())%10 == 0 {
			progress("  %d cameras: %s %.0fs, streaming %d, persisted %d, reconnects %d, errors %d",
				n, p.Phase, p.Elapsed.Seconds(), p.Streaming, p.Persisted, p.Reconnects, p.Errors)
		}
	})
	if err != nil {
		return step, err
	}
	step.CPU = (cpuTime() - cpu0).Seconds() / time.Since(wall0).Seconds()
	l := rep.AckLatency[string(kvsapi.EventPersisted)]
	step.PersistedP50, step.PersistedP99, step.LostFrames = l.P50, l.P99, rep.Verification.LostFrames
	step.Problems = rep.Problems()
	step.Pass = len(step.Problems) == 0 && rep.CamerasUndelivered == 0 && l.P99 < float64(o.SLO.Milliseconds())
	if rep.CamerasUndelivered > 0 {
		step.Problems = append(step.Problems, fmt.Sprintf("%d cameras did not get everything acknowledged", rep.CamerasUndelivered))
	}
	return step, nil
}

func profileAt(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

// startProfile starts a CPU profile into path (nothing if path is empty).
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeProfile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields 14 and 15 (utime, stime) in clock ticks, after the ")" that ends the command name.
	i := slices.Index(b, ')')
	if i < 0 {
		return 0
	}
	var state string
	var f [13]int64
	if _, err := fmt.Sscan(string(b[i+1:]), &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11]); err != nil {
		return 0
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(f[10]+f[11]) * time.Second / ticks
}

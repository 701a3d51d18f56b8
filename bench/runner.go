package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/grafana/sobek"
)

// k6's documented memory per VU for simple tests ("roughly 1–5 MB per
// VU", grafana.com/docs/k6/latest/testing-guides/running-large-tests/),
// the reference line beside the runner's figure.
const (
	K6PerVULow  = 1 << 20
	K6PerVUHigh = 5 << 20
)

// Camera shape of the runner's camera figure: a low-bitrate camera, so
// the figure is the runner's and the producer's overhead rather than
// buffered media.
const (
	runnerCameraBitrate = 64_000
	runnerCameraFPS     = 5
	runnerCameraGOP     = time.Second
)

// RunnerScript is the k6-style script each VU of the VU figure evaluates
// and runs one iteration of: the k6, k6/http, k6/metrics and
// k6/execution modules, a Trend and a Counter, a group and a check
// around one HTTP request to __ENV.BASE_URL.
const RunnerScript = `import http from 'k6/http';
import { check, group } from 'k6';
import { Trend, Counter } from 'k6/metrics';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    api: { executor: 'constant-vus', vus: 1000, duration: '1m' },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    list_streams_ms: ['p(95)<500'],
  },
};

const listTime = new Trend('list_streams_ms', true);
const streamsSeen = new Counter('streams_seen');
const base = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export default function () {
  group('list streams', () => {
    const res = http.post(base + '/listStreams', JSON.stringify({ MaxResults: 10 }), {
      headers: { 'Content-Type': 'application/json' },
      tags: { name: 'ListStreams' },
    });
    listTime.add(res.timings.duration, { scenario: exec.scenario.name });
    const ok = check(res, {
      'status is 200': (r) => r.status === 200,
      'lists streams': (r) => Array.isArray(r.json('StreamInfoList')),
    });
    if (ok) {
      streamsSeen.add(res.json('StreamInfoList').length, { vu_parity: String(exec.vu.idInTest % 2) });
    }
  });
}
`

// listStreamsBody is what the VU figure's HTTP server answers.
const listStreamsBody = `{"StreamInfoList":[{"StreamName":"cam-000001","Status":"ACTIVE"},{"StreamName":"cam-000002","Status":"ACTIVE"}]}`

// RunnerOptions configure RunnerMemory.
type RunnerOptions struct {
	VUs     int // JS VUs for the VU figure; default 1000; negative skips it
	Cameras int // cameras for the camera figure; default 500; negative skips it
	// Duration is how long the cameras stream once all have started,
	// before sampling; default 10s.
	Duration time.Duration
	// Ramp spreads camera starts; default 5s.
	Ramp time.Duration
	// Stack is where the cameras stream (nil: an embedded stack in this
	// process, whose sessions then count as the cameras').
	Stack StackProvider
	// Progress, if set, hears what the benchmark is doing.
	Progress func(format string, args ...any)
}

// RunnerResult is what RunnerMemory measured. Memory is live Go heap
// (HeapAlloc after two collections) plus goroutine stacks.
type RunnerResult struct {
	VUs int `json:"vus"`
	// PerVU is the memory of a VU that evaluated RunnerScript and ran one
	// iteration; PerBareRuntime that of a bare sobek runtime that ran a
	// trivial program (the JS engine's own cost); VURatio is their ratio.
	PerVU          int64   `json:"per_vu_bytes"`
	PerBareRuntime int64   `json:"per_bare_runtime_bytes"`
	VURatio        float64 `json:"vu_ratio"`
	// K6Ratio is PerVU over the low end of k6's documented 1–5 MB.
	K6Ratio float64 `json:"k6_low_ratio"`

	Cameras int `json:"cameras"`
	// PerCamera is the memory of a streaming camera of the scenario
	// runner (scenarios/cameras), media it buffers included; PerTLSConn
	// that of a TLS connection to the same stack with a goroutine
	// reading it; CameraRatio is their ratio.
	PerCamera   int64   `json:"per_camera_bytes"`
	PerTLSConn  int64   `json:"per_tls_conn_bytes"`
	CameraRatio float64 `json:"camera_ratio"`
	// Persisted counts the fragments acknowledged PERSISTED before the
	// camera figure was sampled.
	Persisted      int64 `json:"fragments_persisted"`
	StackInProcess bool  `json:"stack_in_process"`
}

// RunnerMemory measures what the scenario runner holds per JS VU and per
// camera, each next to a raw baseline measured in the same run.
func RunnerMemory(ctx context.Context, o RunnerOptions) (RunnerResult, error) {
	if o.VUs == 0 {
		o.VUs = 1000
	}
	if o.Cameras == 0 {
		o.Cameras = 500
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Ramp == 0 {
		o.Ramp = 5 * time.Second
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	res := RunnerResult{StackInProcess: o.Stack == nil}
	if o.VUs > 0 {
		progress("%d bare sobek runtimes, then %d VUs of the k6-style script", o.VUs, o.VUs)
		var err error
		if res.PerBareRuntime, err = BareRuntimeMemory(o.VUs); err != nil {
			return res, err
		}
		if res.PerVU, err = VUMemory(ctx, o.VUs); err != nil {
			return res, err
		}
		res.VUs = o.VUs
		res.VURatio = float64(res.PerVU) / float64(res.PerBareRuntime)
		res.K6Ratio = float64(res.PerVU) / K6PerVULow
	}
	if o.Cameras > 0 {
		c, err := runnerCameraMemory(ctx, o, progress)
		if err != nil {
			return res, err
		}
		res.Cameras, res.PerCamera, res.PerTLSConn, res.Persisted = o.Cameras, c.perCamera, c.perConn, c.persisted
		res.CameraRatio = float64(res.PerCamera) / float64(res.PerTLSConn)
	}
	return res, nil
}

// liveBytes is live heap plus goroutine stacks after two collections
// (the second frees what the first's finalizers released).
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

// BareRuntimeMemory is the memory per bare sobek runtime, n of them kept
// alive, each having run one small shared program (objects, a string,
// an array, JSON): the least a JS VU can cost.
func BareRuntimeMemory(n int) (int64, error) {
	if n < 1 {
		return 0, errors.New("bench: at least one runtime")
	}
	prog, err := sobek.Compile("bare.js", `var o = {n: 1, s: "x", a: [1, 2, 3]}; JSON.stringify(o).length + o.a.length;`, false)
	if err != nil {
		return 0, err
	}
	before := liveBytes()
	rts := make([]*sobek.Runtime, n)
	for i := range rts {
		rts[i] = sobek.New()
		if _, err := rts[i].RunProgram(prog); err != nil {
			return 0, err
		}
	}
	after := liveBytes()
	runtime.KeepAlive(rts)
	return (after - before) / int64(n), nil
}

// VUMemory is the memory per VU of RunnerScript, n VUs made by the
// scenario runner's own code path, each after one iteration whose HTTP
// request went to a small server in this process.
func VUMemory(ctx context.Context, n int) (int64, error) {
	prog, err := scenarios.CompileSource("runner-bench.js", []byte(RunnerScript))
	if err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(listStreamsBody))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	env := map[string]string{"BASE_URL": "http://" + ln.Addr().String()}
	// One VU first, so what every run holds once (the server's
	// connection, the shims' first instantiation) is not counted per VU.
	warm, err := scenarios.NewVUsForBenchmark(ctx, prog, env, 1)
	if err != nil {
		return 0, err
	}
	warm()
	before := liveBytes()
	release, err := scenarios.NewVUsForBenchmark(ctx, prog, env, n)
	if err != nil {
		return 0, err
	}
	after := liveBytes()
	release()
	return (after - before) / int64(n), nil
}

type cameraFigure struct {
	perCamera, perConn, persisted int64
}

// runnerCameraMemory measures TLS connections and then the runner's
// cameras against one stack.
func runnerCameraMemory(ctx context.Context, o RunnerOptions, progress func(string, ...any)) (cameraFigure, error) {
	var fig cameraFigure
	provider := o.Stack
	if provider == nil {
		provider = inProcess
	}
	target, stop, err := provider(ctx)
	if err != nil {
		return fig, err
	}
	defer stop()
	progress("%d raw TLS connections to the stack, each with a reading goroutine", o.Cameras)
	if fig.perConn, err = tlsConnMemory(ctx, target, o.Cameras); err != nil {
		return fig, err
	}
	progress("%d cameras (%d kbit/s, %d fps, %s GOP, E2EE) starting over %s, then streaming %s",
		o.Cameras, runnerCameraBitrate/1000, runnerCameraFPS, runnerCameraGOP, o.Ramp, o.Duration)
	fig.perCamera, fig.persisted, err = streamingCameraMemory(ctx, target, o, progress)
	return fig, err
}

// tlsConnMemory is the memory per TLS connection to the target's control
// plane, n of them, each with a goroutine blocked reading into a 1 KiB
// buffer: the least a camera holding an open PutMedia needs. It samples
// soon after dialling, before the server's header timeout closes them.
func tlsConnMemory(ctx context.Context, target simulator.Target, n int) (int64, error) {
	u, err := url.Parse(target.ControlPlaneURL)
	if err != nil {
		return 0, fmt.Errorf("bench: control plane URL: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr, ok := target.HTTP.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.ServerName = u.Hostname()
	before := liveBytes()
	conns := make([]net.Conn, 0, n)
	var readers sync.WaitGroup
	var reading atomic.Int64
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	for range n {
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			closeAll()
			return 0, fmt.Errorf("bench: dialling the stack: %w", err)
		}
		conns = append(conns, c)
		reading.Add(1)
		readers.Go(func() {
			defer reading.Add(-1)
			buf := make([]byte, 1024)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		})
	}
	after := liveBytes()
	alive := reading.Load()
	closeAll()
	if alive != int64(n) {
		return 0, fmt.Errorf("bench: only %d of %d TLS connections were open when sampled", alive, n)
	}
	return (after - before) / int64(n), nil
}

// streamingCameraMemory starts o.Cameras cameras of the scenario runner's
// fleet, lets them stream, and returns the memory per camera (median of
// three samples a second apart) and the fragments PERSISTED by then.
func streamingCameraMemory(ctx context.Context, target simulator.Target, o RunnerOptions, progress func(string, ...any)) (int64, int64, error) {
	reg := results.NewRegistry()
	store := results.NewStore()
	var persisted atomic.Int64
	emit := func(samples ...results.Sample) {
		store.Add(samples...)
		for _, s := range samples {
			if s.Metric != nil && s.Metric.Name == cameras.MetricFragmentsPersisted {
				persisted.Add(int64(s.Value))
			}
		}
	}
	f, err := cameras.New(cameras.Config{
		Target: target, Mix: fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}},
		Synthetic:    media.SyntheticConfig{BitrateBps: runnerCameraBitrate, FPS: runnerCameraFPS, GOP: runnerCameraGOP, Width: 320, Height: 240},
		Camera:       fleet.CameraTuning{FinalAckTimeout: time.Second, DrainTimeout: time.Second},
		StreamPrefix: fmt.Sprintf("runner-mem-%d", time.Now().Unix()), Seed: 1,
	}, reg, emit)
	if err != nil {
		return 0, 0, err
	}
	tags := map[string]string{"scenario": "bench"}
	before := liveBytes()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	running := make([]*cameras.Running, 0, o.Cameras)
	stopAll := func() {
		for _, r := range running {
			r.Stop()
		}
		wait := time.NewTimer(time.Minute)
		defer wait.Stop()
		for _, r := range running {
			select {
			case <-r.Done():
			case <-wait.C:
				return
			}
		}
	}
	start := time.Now()
	for i := range o.Cameras {
		if !wait.For(ctx, time.Until(start.Add(o.Ramp*time.Duration(i)/time.Duration(o.Cameras)))) {
			stopAll()
			return 0, 0, ctx.Err()
		}
		running = append(running, f.Start(runCtx, int64(i), tags))
	}
	if !wait.For(ctx, o.Duration) {
		stopAll()
		return 0, 0, ctx.Err()
	}
	var samples []int64
	for s := range 3 {
		after := liveBytes()
		samples = append(samples, (after-before)/int64(o.Cameras))
		progress("sample %d: %.1f KiB/camera, %d fragments PERSISTED, %d cameras filming", s+1, float64(samples[s])/1024, persisted.Load(), f.Active())
		if s < 2 && !wait.For(ctx, time.Second) {
			stopAll()
			return 0, 0, ctx.Err()
		}
	}
	got := persisted.Load()
	active := f.Active()
	stopAll()
	var failed []string
	for _, r := range running {
		if fl := r.Result().Failure; fl != nil && fl.Kind != simulator.KindCanceled && len(failed) < 3 {
			failed = append(failed, fmt.Sprintf("%s: %s", r.Identity().Stream, fl.Message))
		}
	}
	switch {
	case active < o.Cameras:
		return 0, 0, fmt.Errorf("bench: only %d of %d cameras were filming when sampled (%v)", active, o.Cameras, failed)
	case got < int64(o.Cameras):
		return 0, 0, fmt.Errorf("bench: %d fragments PERSISTED by %d cameras, want at least one each", got, o.Cameras)
	}
	return median(samples), got, nil
}

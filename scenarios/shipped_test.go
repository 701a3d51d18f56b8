package scenarios_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

// embeddedTarget starts the embedded stack as `camstorm run` does: admin
// credentials for control-plane calls and consumers, cameras enrolled as
// devices.
func embeddedTarget(t *testing.T) scenarios.Target {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	return scenarios.Target{
		Sim:    simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region},
		KMSURL: st.KMSURL,
		Devices: &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
			CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias},
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestShippedScenariosRunAsIs runs every shipped scenario, shortened only
// through the -e knobs each documents, against the embedded stack: each
// must pass its own thresholds.
func TestShippedScenariosRunAsIs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every shipped scenario for 10–40 s")
	}
	for _, tc := range []struct {
		script string
		env    map[string]string
		want   func(t *testing.T, agg func(string, string) results.Aggregate)
	}{
		{"smoke.js", map[string]string{"DURATION": "8s"}, nil},
		{"ramp.js", map[string]string{"CAMERAS": "20", "RAMP": "5s", "HOLD": "5s"}, func(t *testing.T, agg func(string, string) results.Aggregate) {
			if g := agg("cameras", ""); g.Max != 20 {
				t.Errorf("ramp.js: cameras gauge peaked at %v, want 20", g.Max)
			}
		}},
		{"soak.js", map[string]string{"SOAK_CAMERAS": "8", "SOAK_RAMP": "2s", "SOAK_DURATION": "15s"}, nil},
		{"reconnect-storm.js", map[string]string{"CAMERAS": "8", "DURATION": "35s", "OUTAGE_AT": "6s", "OUTAGE_SECONDS": "3", "RECOVER_SECONDS": "6"},
			func(t *testing.T, agg func(string, string) results.Aggregate) {
				if r := agg("camera_reconnects", ""); r.Sum < 8 {
					t.Errorf("reconnect-storm.js: %v reconnects, want at least one per camera (8)", r.Sum)
				}
			}},
		{"rotation-under-load.js", map[string]string{"CAMERAS": "4", "DURATION": "25s", "ROTATE_EVERY": "4s", "KMS_EVERY_SECONDS": "4"}, nil},
		{"consumer-fanout.js", map[string]string{"CAMERAS": "2", "VIEWERS": "4", "DURATION": "25s", "VIEW_START": "4s", "VIEW_DURATION": "12s", "TAIL_SECONDS": "5"}, nil},
		{"control-plane.js", map[string]string{"RATE": "5", "DURATION": "5s"}, nil},
	} {
		t.Run(tc.script, func(t *testing.T) {
			// Sequential: under -race, parallel runs starve the cameras of CPU.
			p, err := scenarios.Compile(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			var log logBuffer
			res, err := scenarios.Run(context.Background(), scenarios.Config{Program: p, Env: tc.env, Target: embeddedTarget(t), Seed: 3, Log: &log})
			if err != nil {
				t.Fatalf("%s: %v\nlog:\n%s", tc.script, err, log.String())
			}
			var summary bytes.Buffer
			_ = results.WriteTextSummary(&summary, res.SummaryInput, false)
			if res.ExitCode != 0 {
				t.Fatalf("%s with %v: exit %d (%s)\n%s\nlog:\n%s", tc.script, tc.env, res.ExitCode, res.Abort, summary.String(), log.String())
			}
			// Thresholds such as count==0 or p(99)<X pass on no samples at
			// all; each scenario must have done its work.
			work := map[string]string{"smoke.js": "camera_fragments_persisted", "ramp.js": "camera_fragments_persisted",
				"soak.js": "camera_fragments_persisted", "reconnect-storm.js": "camera_fragments_persisted",
				"rotation-under-load.js": "camera_fragments_persisted", "consumer-fanout.js": "viewer_fragments",
				"control-plane.js": "http_reqs"}[tc.script]
			if a, ok := res.SummaryInput.Aggregate(work, results.Selector{Metric: work}); !ok || a.Sum == 0 {
				t.Fatalf("%s: no %s at all: the scenario did nothing its thresholds could judge", tc.script, work)
			}
			if tc.want != nil {
				tc.want(t, func(metric, sel string) results.Aggregate {
					s := results.Selector{Metric: metric}
					if sel != "" {
						var err error
						if s, err = results.ParseSelector(metric + "{" + sel + "}"); err != nil {
							t.Fatal(err)
						}
					}
					a, _ := res.SummaryInput.Aggregate(metric, s)
					return a
				})
			}
		})
	}
}

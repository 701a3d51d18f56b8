// A script whose load is fully determined by its plan, for the shard test:
// iterations, arrival instants and cameras, split by --shard, must add up
// to one process's run.
import { sleep, check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const units = new Counter('units');

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 5, iterations: 37, exec: 'work' },
    pervu: { executor: 'per-vu-iterations', vus: 7, iterations: 3, exec: 'work' },
    arrivals: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '3s', preAllocatedVUs: 12, exec: 'work' },
    ramp: { executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s', preAllocatedVUs: 12, stages: [{ duration: '3s', target: 12 }], exec: 'work' },
    cams: { executor: 'constant-cameras', cameras: 5, duration: '4s', bitrate: 128000, fps: 5, gop: '1s', resolution: '320x240', verify: false },
  },
  thresholds: {
    'iterations{scenario:shared}': ['count==37'],
    'iterations{scenario:pervu}': ['count==21'],
    'iterations{scenario:arrivals}': ['count==60'],
    camera_starts: ['count==5'],
    checks: ['rate==1'],
  },
};

export function work() {
  units.add(exec.scenario.iterationInTest + 1, { scenario: exec.scenario.name });
  check(exec.scenario.iterationInTest, { 'iteration id is global': (i) => i >= 0 });
  sleep(0.05);
}

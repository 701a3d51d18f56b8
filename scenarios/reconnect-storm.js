// reconnect-storm: every camera loses the network at the same instant,
// twice; when it comes back they all reconnect at once (with jittered
// backoff) and resume from their buffers. Nothing acknowledged may be lost
// and every camera must have reconnected.
//
//   camstorm run scenarios/reconnect-storm.js
//   camstorm run scenarios/reconnect-storm.js -e CAMERAS=20 -e DURATION=40s -e OUTAGE_AT=10s
import camstorm from 'camstorm';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';

const CAMERAS = Number(__ENV.CAMERAS || 100);
const OUTAGE_SECONDS = Number(__ENV.OUTAGE_SECONDS || 10);
const cut = new Counter('storm_cameras_cut');

export const options = {
  scenarios: {
    cameras: {
      executor: 'constant-cameras',
      cameras: CAMERAS,
      duration: __ENV.DURATION || '2m',
      profiles: { perfect: 1 },
      mix: { synthetic: 1 },
      bitrate: 128000,
      fps: 10,
    },
    storm: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 2,
      startTime: __ENV.OUTAGE_AT || '30s',
      maxDuration: '10m',
      exec: 'storm',
    },
  },
  thresholds: {
    camera_lost: ['count==0'],
    camera_integrity_failures: ['count==0'],
    camera_reconnects: [`count>=${CAMERAS}`],
    checks: ['rate==1'],
  },
};

// storm cuts every camera off, waits for the outage and a recovery period.
export function storm() {
  const n = camstorm.outage(OUTAGE_SECONDS, 'cameras');
  cut.add(n);
  check(n, { 'cameras were streaming when the storm hit': (x) => x > 0 });
  sleep(OUTAGE_SECONDS + Number(__ENV.RECOVER_SECONDS || 15));
}

export default function () {}

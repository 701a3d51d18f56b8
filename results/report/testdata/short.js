// A short run for the report tests: two cameras and a JS scenario.
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    camera: {
      executor: 'constant-cameras',
      cameras: 2,
      duration: '4s',
      profiles: { perfect: 1 },
      mix: { synthetic: 1 },
      bitrate: 200000,
      gop: '1s',
    },
    js: {
      executor: 'constant-vus',
      vus: 1,
      duration: '3s',
      exec: 'default',
    },
  },
  thresholds: {
    'camera_ack_latency{ack:persisted}': ['p(99)<10000'],
    camera_lost: ['count==0'],
    checks: ['rate>0.9'],
  },
};

export default function () {
  check(true, { 'ran': (ok) => ok });
  sleep(0.2);
}

// smoke: one end-to-end encrypted camera streams for 30 s into the target;
// every fragment must be PERSISTED quickly and read back whole.
//
//   camstorm run scenarios/smoke.js
//   camstorm run scenarios/smoke.js -e DURATION=10s
import { check } from 'k6';

export const options = {
  scenarios: {
    camera: {
      executor: 'constant-cameras',
      cameras: 1,
      duration: __ENV.DURATION || '30s',
      profiles: { perfect: 1 },
      mix: { synthetic: 1 },
      bitrate: 500000,
      gop: '2s',
    },
  },
  thresholds: {
    // ACK latency runs from a fragment's first byte, so it includes the
    // fragment's own length (the 2 s GOP).
    'camera_ack_latency{ack:persisted}': ['p(99)<3000'],
    camera_fragments_persisted: ['count>0'],
    camera_lost: ['count==0'],
    camera_integrity_failures: ['count==0'],
    camera_ack_errors: ['count==0'],
  },
};

// A camera scenario calls no JS per iteration; this only runs if a JS
// scenario is added.
export default function () {
  check(true, { 'smoke ran': (ok) => ok });
}

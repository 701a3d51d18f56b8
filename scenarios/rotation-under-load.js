// rotation-under-load: cameras stream with short E2EE epochs (a new content
// key every ROTATE_EVERY) while the streams' KMS keys are rotated on demand
// three times; every fragment must still be PERSISTED, decrypt with the
// consumer's key, and authenticate.
//
//   camstorm run scenarios/rotation-under-load.js
//   camstorm run scenarios/rotation-under-load.js -e CAMERAS=10 -e DURATION=40s
import camstorm from 'camstorm';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    cameras: {
      executor: 'constant-cameras',
      cameras: Number(__ENV.CAMERAS || 50),
      duration: __ENV.DURATION || '90s',
      profiles: { perfect: 4, 'lte-good': 1 },
      mix: { synthetic: 1 },
      bitrate: 128000,
      fps: 10,
      rotateKeyAfter: __ENV.ROTATE_EVERY || '10s',
    },
    kms: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 3,
      startTime: '10s',
      maxDuration: '5m',
      exec: 'rotateKMS',
    },
  },
  thresholds: {
    camera_lost: ['count==0'],
    camera_integrity_failures: ['count==0'],
    'camera_ack_latency{ack:persisted}': ['p(99)<3000'],
    'checks{check:KMS keys rotated}': ['rate==1'],
  },
};

export function rotateKMS() {
  const keys = camstorm.rotateKeys('cameras');
  check(keys, { 'KMS keys rotated': (n) => n > 0 });
  sleep(Number(__ENV.KMS_EVERY_SECONDS || 10));
}

export default function () {}

// soak: cameras on a mix of flaky networks stream for an hour (bounded:
// SOAK_CAMERAS cameras for SOAK_DURATION); producers must ride out resets,
// cuts, freezes, outages and half-open connections without losing
// anything they were told was PERSISTED, and metrics memory stays flat.
//
//   camstorm run scenarios/soak.js
//   camstorm run scenarios/soak.js -e SOAK_DURATION=10m -e SOAK_CAMERAS=50
export const options = {
  scenarios: {
    soak: {
      executor: 'ramping-cameras',
      startCameras: 0,
      stages: [
        { duration: __ENV.SOAK_RAMP || '30s', target: Number(__ENV.SOAK_CAMERAS || 200) },
        { duration: __ENV.SOAK_DURATION || '1h', target: Number(__ENV.SOAK_CAMERAS || 200) },
        { duration: '10s', target: 0 },
      ],
      gracefulRampDown: '1m',
      gracefulStop: '1m',
      profiles: {
        perfect: 30, 'lte-good': 20, 'wifi-lossy': 10, 'flaky-reset': 10, 'flaky-cut': 10,
        'flaky-freeze': 8, 'flaky-outage': 7, 'flaky-halfopen': 5,
      },
      mix: { synthetic: 4, clip: 1 },
      bitrate: 128000,
      fps: 10,
    },
  },
  thresholds: {
    camera_lost: ['count==0'],
    camera_integrity_failures: ['count==0'],
    'camera_ack_latency{ack:persisted}': ['p(99)<10000'],
    'camera_ack_latency{profile:perfect,ack:persisted}': ['p(99)<4000'],
  },
};

export default function () {}

// ramp: from 0 to 1,000 cameras (low-bitrate, end-to-end encrypted),
// hold, then ramp down; PERSISTED ACK latency must stay within the SLO
// and nothing acknowledged may be lost.
//
//   camstorm run scenarios/ramp.js
//   camstorm run scenarios/ramp.js -e CAMERAS=200 -e RAMP=30s -e HOLD=30s
export const options = {
  scenarios: {
    cameras: {
      executor: 'ramping-cameras',
      startCameras: 0,
      stages: [
        { duration: __ENV.RAMP || '60s', target: Number(__ENV.CAMERAS || 1000) },
        { duration: __ENV.HOLD || '60s', target: Number(__ENV.CAMERAS || 1000) },
        { duration: '10s', target: 0 },
      ],
      gracefulRampDown: '30s',
      profiles: { perfect: 90, 'lte-good': 10 },
      mix: { synthetic: 1 },
      bitrate: 64000,
      fps: 5,
      gop: '1s',
      resolution: '320x240',
    },
  },
  thresholds: {
    // From a fragment's first byte: the 1 s GOP plus ingest, KMS and fsync.
    'camera_ack_latency{ack:persisted}': ['p(99)<3000'],
    'camera_ack_latency{ack:buffering}': ['p(99)<1000'],
    camera_lost: ['count==0'],
    camera_integrity_failures: ['count==0'],
  },
};

export default function () {}

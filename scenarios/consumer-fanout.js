// consumer-fanout: a few cameras, many viewers: each viewer VU tails one of
// the streams with GetMedia, decrypting every frame; viewers must see
// fragments promptly and every one must authenticate.
//
//   camstorm run scenarios/consumer-fanout.js
//   camstorm run scenarios/consumer-fanout.js -e VIEWERS=10 -e DURATION=40s
import camstorm from 'camstorm';
import exec from 'k6/execution';
import { check } from 'k6';

const DURATION = __ENV.DURATION || '90s';

export const options = {
  scenarios: {
    cameras: {
      executor: 'constant-cameras',
      cameras: Number(__ENV.CAMERAS || 5),
      duration: DURATION,
      profiles: { perfect: 1 },
      mix: { synthetic: 1 },
      bitrate: 256000,
      fps: 10,
      gop: '1s',
    },
    viewers: {
      executor: 'constant-vus',
      vus: Number(__ENV.VIEWERS || 50),
      duration: __ENV.VIEW_DURATION || '60s',
      startTime: __ENV.VIEW_START || '10s',
      exec: 'view',
    },
  },
  thresholds: {
    viewer_fragments: ['count>0'],
    viewer_integrity_failures: ['count==0'],
    'viewer_latency': ['p(95)<3000'],
    checks: ['rate>0.95'],
  },
};

// view tails one stream, chosen by VU, for a while.
export function view() {
  const streams = camstorm.streams('cameras');
  if (streams.length === 0) return;
  const stream = streams[exec.vu.idInTest % streams.length];
  const r = camstorm.tail(stream, Number(__ENV.TAIL_SECONDS || 15));
  check(r, { 'viewer received fragments': (x) => x.fragments > 0 });
}

export default function () {}

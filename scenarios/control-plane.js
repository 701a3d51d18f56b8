// control-plane: KVS control-plane calls with k6/http, signed with SigV4
// by camstorm.sign: create streams at a constant arrival rate, describe
// them, ask for their data endpoints and list them. Latency and errors are
// judged with k6's http_req_* metrics.
//
//   camstorm run scenarios/control-plane.js
//   camstorm run scenarios/control-plane.js -e RATE=5 -e DURATION=10s
import http from 'k6/http';
import camstorm from 'camstorm';
import exec from 'k6/execution';
import { check, group } from 'k6';

const base = camstorm.target.controlPlane;
const prefix = `cp-${Date.now()}`;

export const options = {
  scenarios: {
    control: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 20),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 5,
      maxVUs: 20,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:CreateStream}': ['p(95)<500'],
    'http_req_duration{name:DescribeStream}': ['p(95)<200'],
    checks: ['rate>0.99'],
  },
};

function call(op, path, payload) {
  const url = base + path;
  const body = JSON.stringify(payload);
  const headers = Object.assign({ 'Content-Type': 'application/json' }, camstorm.sign('POST', url, body));
  return http.post(url, body, { headers, tags: { name: op } });
}

export default function () {
  const name = `${prefix}-${exec.scenario.iterationInTest}`;
  group('stream lifecycle', () => {
    const created = call('CreateStream', '/createStream', { StreamName: name, DataRetentionInHours: 1 });
    check(created, { 'CreateStream 200': (r) => r.status === 200 });
    const described = call('DescribeStream', '/describeStream', { StreamName: name });
    check(described, { 'DescribeStream names the stream': (r) => r.status === 200 && r.json('StreamInfo.StreamName') === name });
    const ep = call('GetDataEndpoint', '/getDataEndpoint', { StreamName: name, APIName: 'PUT_MEDIA' });
    check(ep, { 'GetDataEndpoint gives an https endpoint': (r) => r.status === 200 && String(r.json('DataEndpoint')).startsWith('https://') });
  });
  const listed = call('ListStreams', '/listStreams', { MaxResults: 10 });
  check(listed, { 'ListStreams 200': (r) => r.status === 200 });
}

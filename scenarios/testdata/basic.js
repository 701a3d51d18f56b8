import { check, group, sleep } from 'k6';
import { Counter, Trend, Rate, Gauge } from 'k6/metrics';
import exec from 'k6/execution';

const hits = new Counter('hits');
const lat = new Trend('my_latency', true);
const ok = new Rate('ok_rate');
const g = new Gauge('last_vu');

export const options = {
  scenarios: {
    main: { executor: 'per-vu-iterations', vus: 3, iterations: 4, tags: { kind: 'unit' } },
  },
  thresholds: {
    hits: ['count==12'],
    'my_latency{scenario:main}': ['p(99)<1000', 'max<1000'],
    checks: ['rate==1'],
    ok_rate: [{ threshold: 'rate>0.5', abortOnFail: false }],
  },
};

export function setup() { return { base: 40 }; }

export default function (data) {
  group('outer', () => {
    hits.add(1);
    lat.add(data.base + exec.vu.idInTest);
    ok.add(true);
    g.add(exec.vu.idInTest);
    check(data.base, { 'base is 40': (b) => b === 40 });
  });
}

export function teardown(data) { console.log('teardown saw', data.base); }

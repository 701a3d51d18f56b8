// Every threshold form and aggregation, all passing.
import { sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const c = new Counter('hits');
const g = new Gauge('gauge7');
const r = new Rate('ratio');
const tr = new Trend('trend');
const emptyRate = new Rate('empty_rate');

export const options = {
  scenarios: { main: { executor: 'per-vu-iterations', vus: 2, iterations: 5, tags: { kind: 'unit' } } },
  thresholds: {
    hits: ['count==10', 'rate>0', { threshold: 'count>=10', abortOnFail: false }],
    'hits{parity:odd}': ['count==4'],
    'hits{scenario:main}': ['count==10'],
    'hits{kind:unit}': ['count==10'],
    gauge7: ['value==7'],
    ratio: ['rate==0.6'],
    trend: ['avg==3', 'min==1', 'max==5', 'med>=2.99', 'med<=3.01', 'p(90)>=4', 'p(95)<=5', 'p(0)==1'],
    'trend{parity:even}': ['max==5', 'min==1'],
    iterations: ['count==10'],
    'iterations{scenario:main}': ['count==10'],
    empty_rate: ['rate>0.99'],
  },
};

export default function () {
  const odd = __ITER % 2 === 1;
  c.add(1, { parity: odd ? 'odd' : 'even' });
  g.add(7);
  r.add(!odd);
  tr.add(__ITER + 1, { parity: odd ? 'odd' : 'even' });
  sleep(0.1);
}

// Aggregations a metric type does not have, and an unknown metric: invalid config (104) before anything runs.
import { Counter, Rate } from 'k6/metrics';

const hits = new Counter('hits');
const ratio = new Rate('ratio');

export const options = {
  thresholds: {
    hits: ['avg<1'],
    ratio: ['p(95)<1'],
    no_such_metric: ['count>0'],
  },
};

export default function () { hits.add(1); ratio.add(true); }

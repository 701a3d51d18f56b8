// k6 computes a Trend's median exactly: 1..5 twice has med 3.
import { Trend } from 'k6/metrics';

const trend = new Trend('trend');

export const options = {
  scenarios: { main: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } },
  thresholds: { trend: ['med==3', 'avg==3'] },
};

export default function () { trend.add(__ITER + 1); }

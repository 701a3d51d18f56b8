// A failing threshold ends with exit code 99 (without aborting).
import { Counter } from 'k6/metrics';

const c = new Counter('hits');

export const options = {
  scenarios: { main: { executor: 'shared-iterations', vus: 1, iterations: 3 } },
  thresholds: { hits: ['count<2'] },
};

export default function () { c.add(1); }

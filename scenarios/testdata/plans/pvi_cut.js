// per-vu-iterations cut by maxDuration: 0.4s iterations, 5 each, 1s.
import { sleep } from 'k6';

export const options = {
  scenarios: { cut: { executor: 'per-vu-iterations', vus: 2, iterations: 5, maxDuration: '1s' } },
};

export default function () { sleep(0.4); }

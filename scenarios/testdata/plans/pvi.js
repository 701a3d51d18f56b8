// per-vu-iterations: 2 VUs, 3 iterations each.
import { sleep } from 'k6';

export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } },
};

export default function () { sleep(0.1); }

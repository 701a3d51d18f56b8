// shared-iterations: 10 iterations over 3 VUs.
import { sleep } from 'k6';

export const options = {
  scenarios: { shared: { executor: 'shared-iterations', vus: 3, iterations: 10 } },
};

export default function () { sleep(0.1 * __VU); }

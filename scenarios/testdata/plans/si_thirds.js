// shared-iterations split in thirds: 2 VUs, 10 iterations.
import { sleep } from 'k6';

export const options = {
  scenarios: { thirds: { executor: 'shared-iterations', vus: 2, iterations: 10 } },
};

export default function () { sleep(0.1); }

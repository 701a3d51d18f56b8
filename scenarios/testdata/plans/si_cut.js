// shared-iterations cut by maxDuration 1s with no gracefulStop.
import { sleep } from 'k6';

export const options = {
  scenarios: { cut: { executor: 'shared-iterations', vus: 1, iterations: 100, maxDuration: '1s', gracefulStop: '0s' } },
};

export default function () { sleep(0.3); }

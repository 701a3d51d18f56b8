// constant-vus: 2 VUs for 3s, 0.7s iterations.
import { sleep } from 'k6';

export const options = {
  scenarios: { steady: { executor: 'constant-vus', vus: 2, duration: '3s' } },
};

export default function () { sleep(0.7); }

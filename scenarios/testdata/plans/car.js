// constant-arrival-rate: 10/s for 2s, short iterations, enough VUs.
import { sleep } from 'k6';

export const options = {
  scenarios: { rate: { executor: 'constant-arrival-rate', rate: 10, duration: '2s', preAllocatedVUs: 2 } },
};

export default function () { sleep(0.05); }

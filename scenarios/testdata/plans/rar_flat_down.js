// ramping-arrival-rate: 2/s for 5s, then 2 → 0 over 5s.
import { sleep } from 'k6';

export const options = {
  scenarios: { fd: { executor: 'ramping-arrival-rate', startRate: 2, preAllocatedVUs: 2,
    stages: [{ duration: '5s', target: 2 }, { duration: '5s', target: 0 }] } },
};

export default function () { sleep(0.05); }

// ramping-arrival-rate: 0 → 10/s over 10s.
import { sleep } from 'k6';

export const options = {
  scenarios: { ramp: { executor: 'ramping-arrival-rate', startRate: 0, preAllocatedVUs: 2,
    stages: [{ duration: '10s', target: 10 }] } },
};

export default function () { sleep(0.05); }

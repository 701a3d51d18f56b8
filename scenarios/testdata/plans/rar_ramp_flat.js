// ramping-arrival-rate 0 → 4/s over 2s, then 4/s for 2s.
import { sleep } from 'k6';

export const options = {
  scenarios: { rf: { executor: 'ramping-arrival-rate', startRate: 0, preAllocatedVUs: 2,
    stages: [{ duration: '2s', target: 4 }, { duration: '2s', target: 4 }] } },
};

export default function () { sleep(0.05); }

// ramping-vus 0 → 3 over 10s: VUs at 10/3 s and 20/3 s, ceiled to the nanosecond, and 10s.
import { sleep } from 'k6';

export const options = {
  scenarios: { thirds: { executor: 'ramping-vus', startVUs: 0, stages: [
    { duration: '10s', target: 3 }, { duration: '1s', target: 3 },
  ] } },
};

export default function () { sleep(0.3); }

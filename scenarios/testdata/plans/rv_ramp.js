// ramping-vus: 0 → 10 over 10s, hold 10s, 10 → 0 over 10s.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    ramp: { executor: 'ramping-vus', startVUs: 0, stages: [
      { duration: '10s', target: 10 }, { duration: '10s', target: 10 }, { duration: '10s', target: 0 },
    ] },
  },
};

export default function () { sleep(0.3); }

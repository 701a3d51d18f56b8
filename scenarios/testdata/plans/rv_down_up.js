// ramping-vus: 5 → 0 over 5s, then 0 → 5 over 5s.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    downup: { executor: 'ramping-vus', startVUs: 5, stages: [
      { duration: '5s', target: 0 }, { duration: '5s', target: 5 },
    ] },
  },
};

export default function () { sleep(0.3); }

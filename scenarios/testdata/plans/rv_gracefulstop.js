// ramping-vus whose second iteration outlives gracefulStop (2s after the 1s end).
import { sleep } from 'k6';

export const options = {
  scenarios: {
    stop: { executor: 'ramping-vus', startVUs: 1, gracefulStop: '2s', gracefulRampDown: '10s',
      stages: [{ duration: '1s', target: 1 }] },
  },
};

export default function () { sleep(__ITER === 0 ? 0.6 : 10); }

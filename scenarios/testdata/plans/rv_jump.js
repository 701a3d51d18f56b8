// ramping-vus with zero-duration stages: jump to 5, ramp to 2, hold, jump to 0.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    jump: { executor: 'ramping-vus', startVUs: 0, stages: [
      { duration: '0s', target: 5 }, { duration: '3s', target: 2 },
      { duration: '2s', target: 2 }, { duration: '0s', target: 0 },
    ] },
  },
};

export default function () { sleep(0.3); }

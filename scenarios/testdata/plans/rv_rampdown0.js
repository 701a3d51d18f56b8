// ramping-vus with gracefulRampDown 0: a removed VU's long iteration is cut at the drop.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    cut: { executor: 'ramping-vus', startVUs: 2, gracefulRampDown: '0s', stages: [
      { duration: '1s', target: 2 }, { duration: '1s', target: 1 }, { duration: '2s', target: 1 },
    ] },
  },
};

export default function () { sleep(10); }

// gracefulRampDown 2s: a VU removed at 2s is cut at 4s, the last one (removed at the 3s end) at 5s.
import { sleep } from 'k6';

export const options = {
  scenarios: { rd: { executor: 'ramping-vus', startVUs: 2, gracefulRampDown: '2s', stages: [
    { duration: '1s', target: 2 }, { duration: '1s', target: 1 }, { duration: '1s', target: 1 },
  ] } },
};

export default function () { sleep(10); }

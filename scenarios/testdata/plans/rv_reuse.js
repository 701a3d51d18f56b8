// A VU told to stop at 1s is still in its iteration when the plan rises again at 1.2s: it keeps going.
import { sleep } from 'k6';

export const options = {
  scenarios: { reuse: { executor: 'ramping-vus', startVUs: 2, stages: [
    { duration: '1s', target: 1 }, { duration: '200ms', target: 2 }, { duration: '2s', target: 2 },
  ] } },
};

export default function () { sleep(1.5); }

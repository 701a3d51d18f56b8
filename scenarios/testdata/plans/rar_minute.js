// ramping-arrival-rate with timeUnit 1m: 60 per minute is one per second.
import { sleep } from 'k6';

export const options = {
  scenarios: { perminute: { executor: 'ramping-arrival-rate', startRate: 60, timeUnit: '1m', preAllocatedVUs: 1,
    stages: [{ duration: '3s', target: 60 }] } },
};

export default function () { sleep(0.05); }

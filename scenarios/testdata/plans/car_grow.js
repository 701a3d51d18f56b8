// constant-arrival-rate growing from 1 to 3 VUs as drops happen.
import { sleep } from 'k6';

export const options = {
  scenarios: { rate: { executor: 'constant-arrival-rate', rate: 10, duration: '2s', preAllocatedVUs: 1, maxVUs: 3 } },
};

export default function () { sleep(0.25); }

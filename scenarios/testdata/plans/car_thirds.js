// constant-arrival-rate to split in thirds.
import { sleep } from 'k6';

export const options = {
  scenarios: { rate: { executor: 'constant-arrival-rate', rate: 10, duration: '2s', preAllocatedVUs: 6 } },
};

export default function () { sleep(0.05); }

// constant-arrival-rate with one VU busy 0.15s per 0.1s period: every other start drops.
import { sleep } from 'k6';

export const options = {
  scenarios: { rate: { executor: 'constant-arrival-rate', rate: 10, duration: '2s', preAllocatedVUs: 1, maxVUs: 1 } },
};

export default function () { sleep(0.15); }

// Script scenarios that a higher layer's duration replaces entirely.
import { sleep } from 'k6';

export const options = {
  vus: 1,
  scenarios: { scripted: { executor: 'per-vu-iterations', vus: 3, iterations: 3 } },
};

export default function () { sleep(0.3); }

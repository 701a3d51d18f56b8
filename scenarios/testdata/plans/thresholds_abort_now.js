// abortOnFail without a delay: aborted at the first evaluation (2s).
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';

const errs = new Counter('errs');

export const options = {
  scenarios: { long: { executor: 'constant-vus', vus: 1, duration: '20s' } },
  thresholds: { errs: [{ threshold: 'count<1', abortOnFail: true }] },
};

export default function () { errs.add(1); sleep(0.5); }

export function teardown() { console.log('teardown ran'); }

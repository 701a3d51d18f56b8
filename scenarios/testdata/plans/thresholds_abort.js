// abortOnFail with delayAbortEval 5s: the counter fails after 1s, the run aborts at the first evaluation past 5s.
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';

const errs = new Counter('errs');

export const options = {
  scenarios: { long: { executor: 'constant-vus', vus: 1, duration: '20s' } },
  thresholds: { errs: [{ threshold: 'count<3', abortOnFail: true, delayAbortEval: '5s' }] },
};

export default function () { errs.add(1); sleep(0.5); }

export function teardown() { console.log('teardown ran'); }

// Two scenarios with their own exec functions, env and tags; the second starts 2s later.
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const seen = new Counter('seen');

export const options = {
  scenarios: {
    first: { executor: 'per-vu-iterations', vus: 1, iterations: 2, exec: 'alpha',
      env: { WHO: 'alpha' }, tags: { team: 'red' } },
    second: { executor: 'per-vu-iterations', vus: 1, iterations: 2, exec: 'beta', startTime: '2s',
      env: { WHO: 'beta' }, tags: { team: 'blue' } },
  },
  thresholds: {
    'checks{scenario:first}': ['rate==1'],
    'checks{scenario:second}': ['rate==1'],
  },
};

export function alpha() {
  check(null, { 'alpha sees its env and name': () => __ENV.WHO === 'alpha' && exec.scenario.name === 'first' });
  seen.add(1, { who: __ENV.WHO });
  sleep(0.5);
}

export function beta() {
  check(null, { 'beta sees its env and name': () => __ENV.WHO === 'beta' && exec.scenario.name === 'second' });
  seen.add(1, { who: __ENV.WHO });
  sleep(0.5);
}

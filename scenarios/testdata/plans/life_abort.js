// test.abort() from an iteration ends the run: exit code 108.
import { sleep } from 'k6';
import exec from 'k6/execution';

export const options = { scenarios: { main: { executor: 'constant-vus', vus: 1, duration: '10s' } } };

export default function () {
  if (exec.scenario.iterationInTest === 2) {
    exec.test.abort('enough');
  }
  sleep(0.5);
}

export function teardown() { console.log('teardown ran'); }

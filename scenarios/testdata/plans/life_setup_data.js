// setup() data reaches every VU and teardown() as a JSON copy.
import { check } from 'k6';

export const options = { scenarios: { main: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };

export function setup() {
  return { n: 42, s: 'text', list: [1, 'two', { three: 3 }], nested: { ok: true, none: null } };
}

export default function (data) {
  check(data, {
    'number': (d) => d.n === 42,
    'string': (d) => d.s === 'text',
    'list': (d) => d.list.length === 3 && d.list[1] === 'two' && d.list[2].three === 3,
    'nested': (d) => d.nested.ok === true && d.nested.none === null,
  });
  data.extra = 1; // a VU's copy is its own: teardown never sees this
}

export function teardown(data) { console.log('teardown data ' + JSON.stringify(data)); }

// A metric name k6 rejects (one character): the error should say so.
import { Counter } from 'k6/metrics';

const c = new Counter('c');

export default function () { c.add(1); }

// Empty sinks at the end: a Rate with no samples passes, count>0 on an empty Counter fails.
import { Counter, Rate } from 'k6/metrics';

const never = new Counter('never');
const noRate = new Rate('no_rate');

export const options = {
  iterations: 1,
  thresholds: {
    never: ['count>0'],
    no_rate: ['rate>0.99'],
  },
};

export default function () {
  if (__ITER > 100) { never.add(1); noRate.add(1); }
}

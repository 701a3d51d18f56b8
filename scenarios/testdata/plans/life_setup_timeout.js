// setup() sleeps past setupTimeout: exit code 100.
import { sleep } from 'k6';

export const options = { setupTimeout: '1s' };

export function setup() { sleep(5); }

export default function () {}

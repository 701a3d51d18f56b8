// setup() throws: the run fails with a script exception (107).
export function setup() { throw new Error('setup exploded'); }

export default function () {}

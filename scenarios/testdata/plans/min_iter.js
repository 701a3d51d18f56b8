// minIterationDuration stretches short iterations to 1s.
export const options = { iterations: 3, minIterationDuration: '1s' };

export default function () {}

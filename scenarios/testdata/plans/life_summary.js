// handleSummary decides what is written where.
export const options = { iterations: 1 };

export default function () {}

export function handleSummary(data) {
  return {
    stdout: 'iterations: ' + data.metrics.iterations.values.count + '\n',
    'out/summary.json': JSON.stringify({ seen: Object.keys(data).sort() }),
  };
}

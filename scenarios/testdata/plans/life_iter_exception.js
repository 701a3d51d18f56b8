// An exception in an iteration is logged with its position and still counts.
export const options = { iterations: 2 };

export default function () {
  const x = null;
  return x.boom;
}

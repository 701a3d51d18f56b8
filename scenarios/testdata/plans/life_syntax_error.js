// A syntax error on line 4.
export default function () {
  const a = 1;
  const b = ;
}

// Package segment splits one test's load between several camstorm instances
// so that, together, they produce exactly the load of a single instance.
//
// It follows the semantics of k6 execution segments: each instance is given a
// Segment, a half-open rational slice (from, to] of the whole test, and a
// Sequence, the list of all cut points shared by every instance. A Tuple (a
// segment inside its sequence) then decides, on its own and without talking
// to the other instances, which global items it owns: VUs, cameras, iteration
// start instants. The assignment repeats every Period() items and is the
// same greedy "striping" k6 uses, so shares are exact, stable and interleaved.
//
// Every instance must be given the same sequence; otherwise the stripings
// differ and instances overlap or leave holes.
package segment

// Package cameras is the camera service behind k6-style camera executors
// and the scripts' camstorm module: it starts simulated cameras one at a
// time by global index (each the same camera whatever else runs), emits
// their metrics as k6-style samples while they stream, takes the whole
// fleet's network down on demand, tails streams as a viewer would, and
// reads every stream back to account for each acknowledged fragment.
package cameras

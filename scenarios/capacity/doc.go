// Package capacity finds how many cameras a target sustains at an SLO: it
// steps a fleet up, measures each step over a hold window, stops when the
// SLO breaks, and fits the Universal Scalability Law to what it measured.
package capacity

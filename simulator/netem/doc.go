// Package netem applies seeded, replayable network faults to a simulated camera's
// connections in user space: a Link dials through latency, bandwidth caps, bursty
// stalls, resets, black holes, cuts and scheduled outages.
//
// The faults act on the camera's side of each connection (a dialer wrapper), so TLS
// runs on top of the faulty byte stream like it would on a real network. Every fault
// is one small type in one file behind the one-method Fault interface (the shape of
// Shopify/toxiproxy's toxics); scheduled faults register their Kind in the same file.
//
// Everything random derives from the Link's seed: the Schedule of timed events is a
// pure function of (Profile, seed, horizon), and per-connection processes (jitter,
// Gilbert–Elliott states) draw from PCG generators seeded by (seed, connection index,
// fault), so a failing run replays. Time comes from an injected Clock.
package netem

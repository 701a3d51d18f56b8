// Package stacktest starts camstorm's reference stack in-process for tests
// and conformance runs, optionally with named deliberate defects.
//
// Start runs the embedded stack on 127.0.0.1 with free ports, in a fresh
// temporary data directory that Close removes, with clock control on (so a
// suite can let a KMS rotation period or a session's lifetime pass with
// Stack.ShiftClock), and with a stream's data key lasting DataKeyMaxAge
// instead of minutes (so a key rotation reaches fragments soon). The defects (stack.Defects lists them) exist only to
// prove that a conformance suite catches each flaw; never use them in
// production.
//
//	st, err := stacktest.Start(ctx, stack.DefectSkipSignatureCheck)
//	if err != nil { ... }
//	defer st.Close(context.Background())
package stacktest

import (
	"context"
	"net"
	"time"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/ingest"
)

// DataKeyMaxAge is how long the ingest of a Start stack encrypts a
// stream's fragments under one data key: fragments sent within it share a
// key, and a fragment sent more than DataKeyMaxAge after a KMS key
// rotation is sealed under a data key from the new key version.
const DataKeyMaxAge = time.Second

// Start starts the embedded stack with the given deliberate defects (none
// for the clean stack). An unknown defect is an error naming the valid
// ones.
func Start(ctx context.Context, defects ...stack.Defect) (*stack.Stack, error) {
	loopback := net.JoinHostPort("127.0.0.1", "0")
	return stack.StartEmbedded(ctx, stack.Options{
		ControlAddr: loopback, DataAddr: loopback, KMSAddr: loopback,
		IdentityAddr: loopback, IoTAddr: loopback, MetricsAddr: loopback,
		ClockControl: true,
		Ingest:       ingest.Config{DataKeyMaxAge: DataKeyMaxAge},
		Defects:      defects,
	})
}

// Package resume is the conformance suite for resuming after disconnects:
// drops at every point of a fragment, half-open connections, outages,
// ingest restarts and crashes, expiring credentials and ERROR ACKs, judged
// by what the target stores and serves back.
package resume

import (
	"time"

	"github.com/camstorm/camstorm/conformance"
)

// caseTimeout bounds each case; the slowest (a camera through an outage)
// needs well under half of it on the embedded stack.
const caseTimeout = 40 * time.Second

// Suite returns the resume suite.
func Suite() *conformance.Suite {
	s := &conformance.Suite{
		Name:  "resume",
		Title: "Resume after disconnect: nothing acknowledged lost, nothing delivered twice, order kept, ERROR ACKs as KVS defines them",
	}
	// The long parallel cases first, so the short ones fill the other
	// workers meanwhile.
	s.Cases = append(s.Cases, producerCases()...)
	s.Cases = append(s.Cases, dropCases()...)
	s.Cases = append(s.Cases, ackCases()...)
	s.Cases = append(s.Cases, fanoutCases()...)
	s.Cases = append(s.Cases, restartCases()...)
	s.Cases = append(s.Cases, credentialCases()...)
	for _, c := range s.Cases {
		if c.Timeout == 0 {
			c.Timeout = caseTimeout
		}
	}
	return s
}

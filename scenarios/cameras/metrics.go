package cameras

import (
	"errors"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/simulator"
)

// Metric names a Fleet defines and emits. Every sample carries the
// caller's tags plus TagProfile and TagKind (of the camera, or of the
// camera whose stream a viewer tails when it is one of the fleet's), and
// the stream name in Metadata[MetaCamera].
const (
	// MetricAckLatency (Trend, ms): from the first byte of a fragment's
	// latest send to each ACK naming it, tagged TagAck.
	MetricAckLatency = "camera_ack_latency"
	// MetricFragments (Counter): fragments produced, counted as each
	// fragment's key frame is taken, topped up to the camera's own count
	// when it ends.
	MetricFragments = "camera_fragments"
	// MetricFragmentsPersisted (Counter): fragments acknowledged PERSISTED,
	// each once however often it was resent.
	MetricFragmentsPersisted = "camera_fragments_persisted"
	// MetricBytes (Counter, data): MKV bytes sent, resends included;
	// counted per RECEIVED ACK with the fragment's size, topped up to the
	// camera's own count (session headers, unacknowledged sends) at its end.
	MetricBytes = "camera_bytes"
	// MetricReconnects (Counter): PutMedia sessions opened after one that
	// ended abnormally.
	MetricReconnects = "camera_reconnects"
	// MetricAckErrors (Counter): ERROR ACKs, tagged TagErrorID.
	MetricAckErrors = "camera_ack_errors"
	// MetricDrops (Counter): fragments the producer dropped, tagged
	// TagReason; emitted from the camera's ledger when it ends.
	MetricDrops = "camera_drops"
	// MetricLost (Counter): acknowledged fragments Verify found incomplete
	// or missing (one sample per verified camera, 0 when none).
	MetricLost = "camera_lost"
	// MetricIntegrityFailures (Counter): fragments that failed
	// authentication when Verify read them back (one sample per camera).
	MetricIntegrityFailures = "camera_integrity_failures"
	// MetricUnverified (Counter): cameras whose stream Verify could not
	// read back completely (neither pass nor fail).
	MetricUnverified = "camera_unverified"
	// MetricViewerFragments (Counter): fragments a viewer received.
	MetricViewerFragments = "viewer_fragments"
	// MetricViewerBytes (Counter, data): frame bytes a viewer received.
	MetricViewerBytes = "viewer_bytes"
	// MetricViewerLatency (Trend, ms): from the producer timestamp of a
	// fragment's last frame to its receipt by the viewer.
	MetricViewerLatency = "viewer_latency"
	// MetricViewerIntegrityFailures (Counter): received fragments that
	// failed authentication (one sample per fragment, 0 or 1).
	MetricViewerIntegrityFailures = "viewer_integrity_failures"
	// MetricViewerErrors (Counter): fragments the service could not serve
	// and GetMedia connections that failed for good.
	MetricViewerErrors = "viewer_errors"
)

// Tag and metadata keys the Fleet adds.
const (
	TagProfile = "profile"
	TagKind    = "kind"
	// TagAck is the ACK type of a MetricAckLatency sample: AckBuffering,
	// AckReceived, AckPersisted or AckError.
	TagAck = "ack"
	// TagErrorID is the numeric error id of an ERROR ACK.
	TagErrorID = "error_id"
	// TagReason says why fragments were dropped: DropOverflow,
	// DropRejected, DropUndelivered, DropStreamReset, or "other".
	TagReason = "reason"
	// MetaCamera is the metadata key of the camera's stream name: per
	// camera, so never a tag (it would make a series per camera).
	MetaCamera = "camera"
)

// Values of TagAck.
const (
	AckBuffering = "buffering"
	AckReceived  = "received"
	AckPersisted = "persisted"
	AckError     = "error"
)

// Values of TagReason.
const (
	DropOverflow    = "overflow"
	DropRejected    = "rejected"
	DropUndelivered = "undelivered"
	DropStreamReset = "stream_reset"
)

// dropReasons maps the ledger's reasons to tag values.
var dropReasons = map[simulator.DropReason]string{
	simulator.DropOverflow:    DropOverflow,
	simulator.DropRejected:    DropRejected,
	simulator.DropUndelivered: DropUndelivered,
	simulator.DropStreamReset: DropStreamReset,
}

// metrics are the fleet's metrics in a run's registry.
type metrics struct {
	ackLatency, fragments, persisted, bytes, reconnects, ackErrors, drops *results.Metric
	lost, integrity, unverified                                           *results.Metric
	viewerFragments, viewerBytes, viewerLatency, viewerIntegrity          *results.Metric
	viewerErrors                                                          *results.Metric
}

// defineMetrics defines every metric in reg, reporting every conflict.
func defineMetrics(reg *results.Registry) (metrics, error) {
	var (
		m    metrics
		errs []error
	)
	def := func(dst **results.Metric, name string, t results.MetricType, c results.Contains) {
		var err error
		if *dst, err = reg.Define(name, t, c); err != nil {
			errs = append(errs, err)
		}
	}
	def(&m.ackLatency, MetricAckLatency, results.Trend, results.Time)
	def(&m.fragments, MetricFragments, results.Counter, results.Default)
	def(&m.persisted, MetricFragmentsPersisted, results.Counter, results.Default)
	def(&m.bytes, MetricBytes, results.Counter, results.Data)
	def(&m.reconnects, MetricReconnects, results.Counter, results.Default)
	def(&m.ackErrors, MetricAckErrors, results.Counter, results.Default)
	def(&m.drops, MetricDrops, results.Counter, results.Default)
	def(&m.lost, MetricLost, results.Counter, results.Default)
	def(&m.integrity, MetricIntegrityFailures, results.Counter, results.Default)
	def(&m.unverified, MetricUnverified, results.Counter, results.Default)
	def(&m.viewerFragments, MetricViewerFragments, results.Counter, results.Default)
	def(&m.viewerBytes, MetricViewerBytes, results.Counter, results.Data)
	def(&m.viewerLatency, MetricViewerLatency, results.Trend, results.Time)
	def(&m.viewerIntegrity, MetricViewerIntegrityFailures, results.Counter, results.Default)
	def(&m.viewerErrors, MetricViewerErrors, results.Counter, results.Default)
	return m, errors.Join(errs...)
}

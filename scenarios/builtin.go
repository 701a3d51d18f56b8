package scenarios

import "github.com/camstorm/camstorm/results"

// builtinMetrics are k6's built-in metrics, with k6's names, types and
// units, so existing thresholds and dashboards work.
type builtinMetrics struct {
	vus, vusMax, cameras, cameraStarts *results.Metric
	iterations, iterationDuration      *results.Metric
	droppedIterations                  *results.Metric
	dataSent, dataReceived             *results.Metric
	checks, groupDuration              *results.Metric
	httpReqs, httpReqFailed            *results.Metric
	httpReqDuration, httpReqBlocked    *results.Metric
	httpReqConnecting, httpReqTLS      *results.Metric
	httpReqSending, httpReqWaiting     *results.Metric
	httpReqReceiving                   *results.Metric
}

func defineBuiltins(r *results.Registry) builtinMetrics {
	d := r.MustDefine
	return builtinMetrics{
		vus:               d("vus", results.Gauge, results.Default),
		vusMax:            d("vus_max", results.Gauge, results.Default),
		cameras:           d("cameras", results.Gauge, results.Default),
		cameraStarts:      d("camera_starts", results.Counter, results.Default),
		iterations:        d("iterations", results.Counter, results.Default),
		iterationDuration: d("iteration_duration", results.Trend, results.Time),
		droppedIterations: d("dropped_iterations", results.Counter, results.Default),
		dataSent:          d("data_sent", results.Counter, results.Data),
		dataReceived:      d("data_received", results.Counter, results.Data),
		checks:            d("checks", results.Rate, results.Default),
		groupDuration:     d("group_duration", results.Trend, results.Time),
		httpReqs:          d("http_reqs", results.Counter, results.Default),
		httpReqFailed:     d("http_req_failed", results.Rate, results.Default),
		httpReqDuration:   d("http_req_duration", results.Trend, results.Time),
		httpReqBlocked:    d("http_req_blocked", results.Trend, results.Time),
		httpReqConnecting: d("http_req_connecting", results.Trend, results.Time),
		httpReqTLS:        d("http_req_tls_handshaking", results.Trend, results.Time),
		httpReqSending:    d("http_req_sending", results.Trend, results.Time),
		httpReqWaiting:    d("http_req_waiting", results.Trend, results.Time),
		httpReqReceiving:  d("http_req_receiving", results.Trend, results.Time),
	}
}

package ingest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ingest's Prometheus series.
type metrics struct {
	requests    *prometheus.CounterVec   // plane, path, code
	fragments   *prometheus.CounterVec   // outcome: received, persisted, duplicate, error
	bytes       *prometheus.CounterVec   // direction: in (PutMedia bodies), out (media served)
	ackLatency  *prometheus.HistogramVec // event: time from a fragment's first byte to its ACK
	ackErrors   *prometheus.CounterVec   // error_id, error_code
	connections *prometheus.GaugeVec     // kind: put_media, get_media
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camstorm_ingest_requests_total", Help: "API requests by plane, operation path and HTTP status.",
		}, []string{"plane", "path", "code"}),
		fragments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camstorm_ingest_fragments_total", Help: "Fragments by outcome (received, persisted, duplicate, error).",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camstorm_ingest_media_bytes_total", Help: "Media bytes received by PutMedia (in) and served by GetMedia and GetMediaForFragmentList (out).",
		}, []string{"direction"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "camstorm_ingest_ack_latency_seconds",
			Help:    "Time from a fragment's first byte to its ACK, by ACK event type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18), // 0.5 ms .. ~65 s
		}, []string{"event"}),
		ackErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camstorm_ingest_ack_errors_total", Help: "ERROR ACKs sent, by ErrorId and ErrorCode.",
		}, []string{"error_id", "error_code"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "camstorm_ingest_open_connections", Help: "Open streaming connections by kind (put_media, get_media).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.fragments, m.bytes, m.ackLatency, m.ackErrors, m.connections} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statusRecorder remembers the response status; Unwrap keeps
// http.ResponseController (Flush, full duplex, deadlines) working through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(plane string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// The route the mux matched, not the raw path: junk paths all land on
		// the catch-all "/", which keeps label cardinality bounded.
		path := strings.TrimPrefix(r.Pattern, "POST ")
		if path == "/" || path == "" {
			path = "unknown"
		}
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(plane, path, strconv.Itoa(rec.code)).Inc()
	})
}

// Package ingest is the reference Kinesis Video Streams ingest: the control
// plane, PutMedia with its acknowledgement stream, GetMedia, ListFragments and
// GetMediaForFragmentList, backed by a durable fragment store.
//
// The package serves plain http.Handlers; the stack package puts them behind
// TLS listeners. Wire behaviour follows ../shared/reference/kvs-protocol.md.
package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the ingest's configuration. Zero values take the defaults noted.
type Config struct {
	DataDir string // required; fragments live in DataDir/fragments
	Region  string // default us-east-1
	Account string // default 123456789012

	// DataEndpoint is the URL GetDataEndpoint returns (scheme, host and port,
	// no path). The stack sets it once its data-plane listener is bound.
	DataEndpoint string

	// PutMedia behaviour (kvs-protocol.md §1.2, §1.5).
	IdleTimeout           time.Duration // close a silent PutMedia after this; default 30s
	IdleAckInterval       time.Duration // IDLE ACK period while silent; default 3s
	MaxConnectionDuration time.Duration // ERROR 4003 after this; default 45m
	// A PutMedia body must deliver at least MinReadBytes within every
	// SlowReadWindow or the connection is closed (a slow client).
	MinReadBytes   int64         // default 1 byte
	SlowReadWindow time.Duration // default: IdleTimeout
	// MaxGetMediaPerStream limits concurrent GetMedia readers per stream
	// (ConnectionLimitExceededException beyond it); default 3.
	MaxGetMediaPerStream int
	MaxJSONBody          int64 // control-plane and query request bodies; default 64 KiB

	// KMS, if set, turns encryption at rest on: every fragment is stored
	// sealed under a data key from GenerateDataKey with its stream's KMS
	// key (atrest.go, datakeys.go). The AWS SDK's *kms.Client fits, against
	// the reference KMS or AWS KMS.
	KMS KMS
	// Authorizer, if set, decides every API call and every use of a
	// stream's KMS key on a caller's behalf; nil allows everything.
	Authorizer Authorizer
	// A data key encrypts a stream's fragments for at most DataKeyMaxAge
	// (default DefaultDataKeyMaxAge) and DataKeyMaxUses fragments (default
	// DefaultDataKeyMaxUses).
	DataKeyMaxAge  time.Duration
	DataKeyMaxUses int

	Now  func() time.Time                 // default time.Now
	Logf func(format string, args ...any) // default: discard
	// Registerer receives the ingest's Prometheus metrics; default a fresh registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// SessionHook, if set, watches PutMedia sessions and injects faults
	// into them (faults.go; camstorm device-check).
	SessionHook SessionHook

	// Defects are deliberate flaws, only for proving that conformance
	// suites catch them (stack.Defect); never for production.
	Defects Defects
}

func (c *Config) applyDefaults() error {
	if c.DataDir == "" {
		return errors.New("ingest: Config.DataDir is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Account == "" {
		c.Account = "123456789012"
	}
	def(&c.IdleTimeout, kvsapi.IdleCloseAfter)
	def(&c.IdleAckInterval, 3*time.Second)
	def(&c.MaxConnectionDuration, kvsapi.MaxConnectionDuration)
	def(&c.SlowReadWindow, c.IdleTimeout)
	def(&c.DataKeyMaxAge, DefaultDataKeyMaxAge)
	if c.DataKeyMaxUses == 0 {
		c.DataKeyMaxUses = DefaultDataKeyMaxUses
	}
	if c.MinReadBytes == 0 {
		c.MinReadBytes = 1
	}
	if c.MaxGetMediaPerStream == 0 {
		c.MaxGetMediaPerStream = 3
	}
	if c.MaxJSONBody == 0 {
		c.MaxJSONBody = 64 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Registerer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.Gatherer == nil {
		g, ok := c.Registerer.(prometheus.Gatherer)
		if !ok {
			return errors.New("ingest: Config.Registerer is not a Gatherer; set Config.Gatherer too")
		}
		c.Gatherer = g
	}
	return nil
}

// Server is a running ingest. Its handlers are safe for concurrent use.
type Server struct {
	cfg     Config
	store   *fragstore.Store
	streams *streams
	metrics *metrics
	keys    *dataKeys // nil: no encryption at rest

	mu       sync.Mutex
	sessions map[string]*putSession   // the one live PutMedia per stream; the newest wins
	readers  map[string]*mediaReaders // open GetMedia per stream
	closed   chan struct{}
	// storing counts sessions that may still append to the store: Close
	// waits for them, so every fragment acknowledged RECEIVED is stored.
	storing sync.WaitGroup
	// crashed: Crash ended the server; nothing more is stored.
	crashed atomic.Bool

	// State of deliberate defects (Config.Defects).
	seen    seenTimes      // DropResentFragment
	delayed *delayedWrites // PersistedBeforeDurable
}

// New opens the store in cfg.DataDir and returns a server ready to serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, sessions: map[string]*putSession{}, readers: map[string]*mediaReaders{}, closed: make(chan struct{})}
	if cfg.KMS != nil {
		s.keys = newDataKeys(cfg.KMS, cfg.Now, cfg.DataKeyMaxAge, cfg.DataKeyMaxUses)
		if cfg.Defects.StoreDataKeys {
			s.keys.keyDump = filepath.Join(cfg.DataDir, "datakeys.cache")
		}
	}
	store, err := fragstore.Open(fragstore.Options{
		Dir:       filepath.Join(cfg.DataDir, "fragments"),
		Retention: s.retention,
		Now:       cfg.Now,
		Logf:      cfg.Logf,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: opening fragment store: %w", err)
	}
	s.store = store
	if s.streams, err = loadStreams(store, cfg); err != nil {
		store.Close()
		return nil, err
	}
	if s.metrics, err = newMetrics(cfg.Registerer); err != nil {
		store.Close()
		return nil, err
	}
	if cfg.Defects.PersistedBeforeDurable {
		s.delayed = newDelayedWrites(s)
	}
	return s, nil
}

// SetDataEndpoint sets the URL GetDataEndpoint returns; call it before serving.
func (s *Server) SetDataEndpoint(url string) { s.cfg.DataEndpoint = url }

// Close ends live sessions, waits until the fragments they acknowledged
// RECEIVED are stored, and closes the store.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return nil
	default:
	}
	close(s.closed)
	for _, ps := range s.sessions {
		ps.supersede()
	}
	s.mu.Unlock()
	// A producer resumes after its last RECEIVED (kvs-protocol.md §4.4), so
	// a received fragment the store never got would be lost for good.
	s.storing.Wait()
	if s.delayed != nil {
		s.delayed.close(true)
	}
	return s.store.Close()
}

// Crash ends the server as a crash would: live sessions stop without
// storing the fragments they still hold, what waits in memory is lost,
// and the store is closed at once (what it synced survives). The caller
// cuts the connections. Tests and conformance suites use it; a restarted
// server on the same DataDir recovers from the store.
func (s *Server) Crash() error {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return nil
	default:
	}
	s.crashed.Store(true)
	close(s.closed)
	for _, ps := range s.sessions {
		ps.supersede()
	}
	s.mu.Unlock()
	if s.delayed != nil {
		s.delayed.close(false)
	}
	return s.store.Close()
}

// Store exposes the fragment store to tests and the benchmark.
func (s *Server) Store() *fragstore.Store { return s.store }

// retention is the store's per-stream retention; streams without retention keep nothing.
func (s *Server) retention(stream string) time.Duration {
	if st, ok := s.streams.byName(stream); ok {
		return time.Duration(st.info().DataRetentionInHours) * time.Hour
	}
	return 0
}

// ControlHandler serves the control plane (kvs-protocol.md §3).
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+kvsapi.PathCreateStream, s.createStream)
	mux.HandleFunc("POST "+kvsapi.PathDescribeStream, s.describeStream)
	mux.HandleFunc("POST "+kvsapi.PathListStreams, s.listStreams)
	mux.HandleFunc("POST "+kvsapi.PathDeleteStream, s.deleteStream)
	mux.HandleFunc("POST "+kvsapi.PathGetDataEndpoint, s.getDataEndpoint)
	mux.HandleFunc("POST "+kvsapi.PathTagStream, s.tagStream)
	mux.HandleFunc("POST "+kvsapi.PathListTagsForStream, s.listTagsForStream)
	mux.HandleFunc("POST "+kvsapi.PathUpdateDataRetention, s.updateDataRetention)
	mux.HandleFunc("/", s.unknownOperation)
	return s.instrument("control", mux)
}

// DataHandler serves the data plane: PutMedia, GetMedia, ListFragments and
// GetMediaForFragmentList.
func (s *Server) DataHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+kvsapi.PathPutMedia, s.putMedia)
	mux.HandleFunc("POST "+kvsapi.PathGetMedia, s.getMedia)
	mux.HandleFunc("POST "+kvsapi.PathListFragments, s.listFragments)
	mux.HandleFunc("POST "+kvsapi.PathGetMediaForFragmentList, s.getMediaForFragmentList)
	mux.HandleFunc("/", s.unknownOperation)
	return s.instrument("data", mux)
}

// MetricsHandler serves Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})
}

func (s *Server) unknownOperation(w http.ResponseWriter, r *http.Request) {
	writeError(w, &kvsapi.Exception{Status: http.StatusNotFound, Type: "UnknownOperationException",
		Message: fmt.Sprintf("no operation %s %s; operations are POSTs to paths such as %s", r.Method, r.URL.Path, kvsapi.PathDescribeStream)})
}

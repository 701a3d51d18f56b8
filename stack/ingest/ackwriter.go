package ingest

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/prometheus/client_golang/prometheus"
)

// ackQueueLen bounds the ACKs waiting for the writer; senders block beyond it,
// which pushes back on the read path when a client stops reading its ACKs.
const ackQueueLen = 64

// ackItem is one ACK to send. firstByte, when set, is when the fragment's
// first byte arrived, for the ACK latency histogram.
type ackItem struct {
	ack       kvsapi.Ack
	firstByte time.Time
}

// ackWriter is the only goroutine that touches a PutMedia ResponseWriter once
// the 200 is out. Each ACK becomes its own HTTP chunk, flushed at once (a
// producer's parser takes at most 1 KiB per read, §1.7), and while the body is
// silent it sends IDLE every IdleAckInterval.
type ackWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	queue chan ackItem
	done  chan struct{}

	closing      <-chan struct{} // the server is closing
	lastData     *atomic.Int64   // unix ns of the body's last bytes
	idleEvery    time.Duration
	writeTimeout time.Duration
	onFailure    func() // the client cannot be written to any more

	latency  map[kvsapi.EventType]prometheus.Observer
	errors   *prometheus.CounterVec
	outcomes *prometheus.CounterVec

	line   []byte
	failed bool
	// tap, if set, may take an ACK instead of queueing it (faults.go).
	tap func(ackItem) bool
}

func newAckWriter(w http.ResponseWriter, rc *http.ResponseController, m *metrics, lastData *atomic.Int64, cfg *Config, closing <-chan struct{}, onFailure func()) *ackWriter {
	a := &ackWriter{
		w: w, rc: rc,
		queue:        make(chan ackItem, ackQueueLen),
		done:         make(chan struct{}),
		closing:      closing,
		lastData:     lastData,
		idleEvery:    cfg.IdleAckInterval,
		writeTimeout: cfg.IdleTimeout,
		onFailure:    onFailure,
		latency:      map[kvsapi.EventType]prometheus.Observer{},
		errors:       m.ackErrors,
		outcomes:     m.fragments,
		line:         make([]byte, 0, 256),
	}
	for _, ev := range []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted} {
		a.latency[ev] = m.ackLatency.WithLabelValues(string(ev))
	}
	return a
}

// send queues an ACK; it blocks while the queue is full, except once the
// server is closing: then a full queue means a producer that stopped reading
// its ACKs, and the ACK is dropped so that Close need not wait for the write
// timeout before the session's fragments are stored.
func (a *ackWriter) send(ack kvsapi.Ack, firstByte time.Time) {
	it := ackItem{ack: ack, firstByte: firstByte}
	if a.tap != nil && a.tap(it) {
		return
	}
	a.enqueue(it)
}

func (a *ackWriter) enqueue(it ackItem) {
	select {
	case a.queue <- it:
		return
	default:
	}
	select {
	case a.queue <- it:
	case <-a.closing:
	}
}

// run writes queued ACKs until the queue is closed, and IDLE while silent.
func (a *ackWriter) run() {
	defer close(a.done)
	idle := time.NewTimer(a.idleEvery)
	defer idle.Stop()
	for {
		select {
		case it, ok := <-a.queue:
			if !ok {
				return
			}
			a.write(it)
		case <-idle.C:
			silent := time.Since(time.Unix(0, a.lastData.Load()))
			if silent < a.idleEvery {
				idle.Reset(a.idleEvery - silent)
				continue
			}
			a.write(ackItem{ack: kvsapi.Ack{EventType: kvsapi.EventIdle}})
			idle.Reset(a.idleEvery)
		}
	}
}

func (a *ackWriter) write(it ackItem) {
	if a.failed {
		return // keep draining so senders never block on a dead client
	}
	a.line = it.ack.AppendJSON(a.line[:0])
	_ = a.rc.SetWriteDeadline(time.Now().Add(a.writeTimeout))
	_, err := a.w.Write(a.line)
	if err == nil {
		err = a.rc.Flush()
	}
	if err != nil {
		a.failed = true
		a.onFailure()
		return
	}
	if obs := a.latency[it.ack.EventType]; obs != nil && !it.firstByte.IsZero() {
		obs.Observe(time.Since(it.firstByte).Seconds())
	}
	if it.ack.EventType == kvsapi.EventError {
		a.errors.WithLabelValues(strconv.Itoa(int(it.ack.ErrorID)), it.ack.ErrorID.Code()).Inc()
		if it.ack.HasTimecode {
			a.outcomes.WithLabelValues("error").Inc()
		}
	}
}

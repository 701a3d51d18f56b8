package fragstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The workload of docs/STORAGE.md: 64 cameras appending 256 KiB fragments
// concurrently, each append durable before it returns.
const (
	benchWriters  = 64
	benchFragment = 256 << 10
)

// runConcurrently calls op b.N times in total from benchWriters goroutines;
// op gets the writer index and a unique sequence number.
func runConcurrently(b *testing.B, op func(writer int, seq int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := range benchWriters {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) || failed.Load() {
					return
				}
				if err := op(w, i); err != nil {
					failed.Store(true)
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkStoreAppend64x256KiB is this store: group commit, one fdatasync
// per batch.
func BenchmarkStoreAppend64x256KiB(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), CompactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for w := range benchWriters {
		if err := s.PutStream(ctx, fmt.Sprintf("cam-%d", w), []byte("meta")); err != nil {
			b.Fatal(err)
		}
	}
	data := payload(1, benchFragment)
	before := s.Stats()
	b.SetBytes(benchFragment)
	b.ResetTimer()
	runConcurrently(b, func(w int, seq int64) error {
		_, err := s.Append(ctx, Fragment{Stream: fmt.Sprintf("cam-%d", w), Number: s.NextFragmentNumber(),
			ProducerMs: seq, ServerMs: seq, DurationMs: 2000, Parts: [][]byte{data}})
		return err
	})
	b.StopTimer()
	after := s.Stats()
	if f := after.Fsyncs - before.Fsyncs; f > 0 {
		b.ReportMetric(float64(after.Records-before.Records)/float64(f), "records/fsync")
	}
}

// BenchmarkStoreAppend1x256KiB is one appender alone: every append pays a
// whole fsync, the latency floor of a PERSISTED ACK.
func BenchmarkStoreAppend1x256KiB(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), CompactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.PutStream(ctx, "cam", nil); err != nil {
		b.Fatal(err)
	}
	data := payload(1, benchFragment)
	b.SetBytes(benchFragment)
	i := int64(0)
	for b.Loop() {
		i++
		if _, err := s.Append(ctx, Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: i, Parts: [][]byte{data}}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBolt stores the same workload as values in bbolt, one transaction per
// fragment (Update) or coalesced by bbolt (Batch).
func benchBolt(b *testing.B, batch bool) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "fragments.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("fragments")
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	data := payload(1, benchFragment)
	var firstTx, lastTx atomic.Int64
	b.SetBytes(benchFragment)
	b.ResetTimer()
	runConcurrently(b, func(w int, seq int64) error {
		key := make([]byte, 16)
		binary.BigEndian.PutUint64(key, uint64(w))
		binary.BigEndian.PutUint64(key[8:], uint64(seq))
		fn := func(tx *bolt.Tx) error {
			id := int64(tx.ID())
			firstTx.CompareAndSwap(0, id)
			for {
				old := lastTx.Load()
				if id <= old || lastTx.CompareAndSwap(old, id) {
					break
				}
			}
			return tx.Bucket(bucket).Put(key, data)
		}
		if batch {
			return db.Batch(fn)
		}
		return db.Update(fn)
	})
	b.StopTimer()
	if commits := lastTx.Load() - firstTx.Load() + 1; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "records/commit")
	}
}

func BenchmarkBoltUpdate64x256KiB(b *testing.B) { benchBolt(b, false) }
func BenchmarkBoltBatch64x256KiB(b *testing.B)  { benchBolt(b, true) }

// benchRawFile is the floor: one goroutine appending the same bytes to a
// plain file, with an fdatasync after every write or after every 64.
func benchRawFile(b *testing.B, writesPerSync int) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw.log"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data := payload(1, benchFragment)
	b.SetBytes(benchFragment)
	n := 0
	for b.Loop() {
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		n++
		if n%writesPerSync == 0 {
			if err := fdatasync(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := fdatasync(f); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRawWriteFsyncEach256KiB(b *testing.B)   { benchRawFile(b, 1) }
func BenchmarkRawWriteFsyncPer64x256KiB(b *testing.B) { benchRawFile(b, 64) }

// BenchmarkRangeOverDay measures the linear index scan behind Range: one
// stream holding a day of 2-second fragments (43,200 entries), a page of
// 1000 from the middle.
func BenchmarkRangeOverDay(b *testing.B) {
	st := newStreamState("cam")
	for i := range 43_200 {
		st.insert(entry{num: uint64(i + 1), producerMs: int64(i) * 2000, serverMs: int64(i) * 2000, durationMs: 2000, seg: 1})
	}
	s := &Store{streams: map[string]*streamState{"cam": st}, opts: Options{}}
	for b.Loop() {
		if got := s.Range("cam", true, 43_200*1000, 43_200*2000, "", 1000); len(got) != 1000 {
			b.Fatalf("got %d", len(got))
		}
	}
}

// BenchmarkIndexBytesPerFragment reports the heap the index spends per
// stored fragment (entry plus producer-timestamp map), the figure that
// bounds memory for long retention.
func BenchmarkIndexBytesPerFragment(b *testing.B) {
	const n = 200_000
	var perFragment float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st := newStreamState("cam")
		for i := range n {
			st.insert(entry{num: uint64(i + 1), producerMs: int64(i) * 2000, serverMs: int64(i) * 2000, durationMs: 2000, seg: 1, size: 1})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perFragment = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(st)
	}
	b.ReportMetric(perFragment, "B/fragment")
}

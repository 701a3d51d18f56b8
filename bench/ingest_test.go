package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIngestMeasuresTheSameBytesTwice checks the benchmark's bookkeeping: the
// baseline covers exactly the fragments the ingest persisted.
func TestIngestMeasuresTheSameBytesTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for a second")
	}
	res, err := Ingest(context.Background(), IngestOptions{Dir: t.TempDir(), Streams: 2, Duration: time.Second, BitrateBps: 2_000_000})
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Positive(t, res.Ingest.Fragments)
	require.Equal(t, res.Ingest.Bytes, res.Baseline.Bytes)
	require.Equal(t, res.Ingest.Fragments, res.Baseline.Fragments)
	require.Positive(t, res.Ratio)
	require.Positive(t, res.IngestPlaintext.Fragments, "the plaintext-at-rest run persisted too")
	require.InDelta(t, res.Ingest.MBps/res.IngestPlaintext.MBps, res.AtRestRatio, 1e-9)
	require.LessOrEqual(t, res.PersistedP50, res.PersistedP99)
}

// BenchmarkIngestPersisted reports the ingest's persisted MB/s with 16
// streams, the raw baseline's from the same iteration, and their ratio.
func BenchmarkIngestPersisted(b *testing.B) {
	for b.Loop() {
		res, err := Ingest(context.Background(), IngestOptions{Dir: b.TempDir(), Streams: 16, Duration: 3 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Ingest.MBps, "ingest-MB/s")
		b.ReportMetric(res.Baseline.MBps, "baseline-MB/s")
		b.ReportMetric(res.Ratio, "ratio")
	}
}

package simulator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLedgerAckMergesRunsAndIgnoresResends(t *testing.T) {
	var l Ledger
	l.Ack(1000, SeqRange{0, 14})
	l.Ack(3000, SeqRange{30, 44}) // fragment 2000 not yet acknowledged
	require.Len(t, l.Acked, 2)
	l.Ack(2000, SeqRange{15, 29}) // fills the hole: one run
	require.Equal(t, []AckedRun{{FirstTimecode: 1000, LastTimecode: 3000, Frames: SeqRange{0, 44}, Fragments: 3}}, l.Acked)
	l.Ack(2000, SeqRange{15, 29}) // resent and acknowledged again
	require.Equal(t, 3, l.AckedFragments)
	require.Equal(t, uint64(45), l.AckedFrames)
	l.Ack(5000, SeqRange{60, 74}) // 45..59 dropped
	l.Ack(4000, SeqRange{45, 59}) // prepends to the later run, then merges
	require.Equal(t, []AckedRun{{FirstTimecode: 1000, LastTimecode: 5000, Frames: SeqRange{0, 74}, Fragments: 5}}, l.Acked)
	require.True(t, l.IsAcked(0))
	require.True(t, l.IsAcked(74))
	require.False(t, l.IsAcked(75))
}

func TestLedgerDropKeepsOrderAndMergesSameReason(t *testing.T) {
	var l Ledger
	l.Drop(SeqRange{30, 44}, DropOverflow, true)
	l.Drop(SeqRange{0, 14}, DropRejected, true)
	l.Drop(SeqRange{45, 59}, DropOverflow, true)
	l.Drop(SeqRange{60, 61}, DropBeforeKeyFrame, false)
	require.Equal(t, []DroppedRun{
		{Frames: SeqRange{0, 14}, Reason: DropRejected},
		{Frames: SeqRange{30, 59}, Reason: DropOverflow},
		{Frames: SeqRange{60, 61}, Reason: DropBeforeKeyFrame},
	}, l.Dropped)
	require.Equal(t, uint64(47), l.DroppedFrames)
	require.Equal(t, 3, l.DroppedFragments)
}

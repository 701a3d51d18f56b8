package simulator

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFragmentDataPiecesAndOffsets(t *testing.T) {
	var d fragmentData
	var want []byte
	add := func(b []byte) {
		d.Append(b)
		want = append(want, b...)
	}
	d.expect(5)
	add([]byte("ab"))
	add([]byte("cde")) // fills the expected piece
	add([]byte("f"))   // a new, exact piece
	d.expect(4)
	add([]byte("gh"))
	add([]byte("ijk")) // does not fit what is left: a new piece
	require.Equal(t, len(want), d.Len())
	require.Len(t, d.pieces, 4)
	require.Equal(t, 5, cap(d.pieces[0]), "sized as announced")
	require.Equal(t, 1, cap(d.pieces[1]), "exact")
	// Reading piece by piece from any offset gives the bytes back.
	for start := range want {
		var got []byte
		for off := start; off < d.Len(); {
			p := d.From(off)
			require.NotEmpty(t, p, "From(%d)", off)
			got = append(got, p...)
			off += len(p)
		}
		require.True(t, bytes.Equal(want[start:], got), "from %d: %q", start, got)
	}
	require.Nil(t, d.From(d.Len()))
}

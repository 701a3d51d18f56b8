package ingest

import (
	"bytes"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/mkv"
)

// clusterOf writes one Cluster with one frame as a producer would.
func clusterOf(t testing.TB, frame []byte) []byte {
	var b bytes.Buffer
	w := mkv.NewWriter(&b)
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	head := b.Len()
	require.NoError(t, w.StartCluster(1000))
	require.NoError(t, w.WriteFrame(1, 1000, true, frame))
	return append([]byte(nil), b.Bytes()[head:]...)
}

// TestTamperFirstBlock: the defect flips exactly one bit, in the frame.
func TestTamperFirstBlock(t *testing.T) {
	frame := bytes.Repeat([]byte("frame"), 50)
	c := clusterOf(t, frame)
	orig := append([]byte(nil), c...)
	require.True(t, bytes.Contains(c, frame))
	tamperFirstBlock(c)
	require.Equal(t, 1, bitsDiffer(orig, c))
	require.False(t, bytes.Contains(c, frame), "the flipped bit is in the frame")
}

func TestSealReusesNonceOnlyWithTheDefect(t *testing.T) {
	parts := [][]byte{appendPayloadHead(nil, 0, 1, 1), {1}, {0}}
	// 'K' 0x02, the wrapped key's one-byte length, the wrapped key, the nonce.
	nonceOf := func(p []byte) []byte { off := 3 + len(testDataKey.Wrapped); return p[off : off+atRestNonceSize] }
	for _, reuse := range []bool{false, true} {
		a, err := sealPayloadWith(testDataKey, "arn:s", "1", parts, reuse)
		require.NoError(t, err)
		b, err := sealPayloadWith(testDataKey, "arn:s", "2", parts, reuse)
		require.NoError(t, err)
		require.Equal(t, reuse, bytes.Equal(nonceOf(a), nonceOf(b)), "reuse %v", reuse)
		for i, p := range [][]byte{a, b} {
			plain, err := openPayload(t.Context(), p, "arn:s", []string{"1", "2"}[i], fixedUnwrap)
			require.NoError(t, err, "a sealed payload opens either way")
			require.Equal(t, bytes.Join(parts, nil), plain)
		}
	}
}

func TestPairwiseSwapped(t *testing.T) {
	require.Equal(t, []int{2, 1, 4, 3, 5}, pairwiseSwapped([]int{1, 2, 3, 4, 5}))
	require.Empty(t, pairwiseSwapped([]int(nil)))
}

func bitsDiffer(a, b []byte) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

// FuzzTamperFirstBlock: any bytes, no panic, at most one bit changed.
func FuzzTamperFirstBlock(f *testing.F) {
	f.Add(clusterOf(f, []byte("frame")))
	f.Add([]byte{0x1F, 0x43, 0xB6, 0x75, 0xFF, 0xA3, 0x85, 0x81, 0, 0, 0x80, 1})
	f.Add([]byte{0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xE7, 0x81, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := append([]byte(nil), b...)
		tamperFirstBlock(b)
		if d := bitsDiffer(orig, b); d > 1 {
			t.Fatalf("%d bits changed", d)
		}
	})
}

package stack_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/stacktest"
)

// TestRestartAndCrashIngest: in both modes, a graceful restart and a
// crash of the ingest keep its URLs, streams and persisted fragments; a
// crash cuts an open PutMedia.
func TestRestartAndCrashIngest(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		base := time.Now().Add(-time.Minute).UnixMilli()
		require.Equal(t, 2, persistedCount(pushMarked(t, st, "kept", "", base, 2)))
		control, data := st.ControlPlaneURL, st.DataPlaneURL

		require.NoError(t, st.RestartIngest(ctx))
		require.Equal(t, control, st.ControlPlaneURL)
		require.Equal(t, data, st.DataPlaneURL)
		require.Equal(t, 2, persistedCount(pushMarked(t, st, "kept", "", base+10_000, 2)))
		require.Len(t, fragmentsOf(t, st, "kept"), 4)

		pm, err := kvsclient.StartPutMedia(ctx, st.AdminClient(), st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "kept"})
		require.NoError(t, err)
		defer pm.Close()
		acked := make(chan error, 1)
		go func() {
			for {
				if _, err := pm.NextAck(); err != nil {
					acked <- err
					return
				}
			}
		}()
		require.NoError(t, st.CrashIngest(ctx))
		select {
		case err := <-acked:
			require.Error(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the open PutMedia survived the crash")
		}
		require.Len(t, fragmentsOf(t, st, "kept"), 4, "persisted fragments survive the crash")
		require.Equal(t, 4, countMarker(getMediaForAll(t, st, "kept")))
		require.Equal(t, 1, persistedCount(pushMarked(t, st, "kept", "", base+20_000, 1)), "the new ingest takes PutMedia")
		require.NoError(t, st.Close(ctx))
		require.Error(t, st.RestartIngest(ctx), "no restart after Close")
	})
}

// TestCrashWhileStreaming: the ingest crashes while a camera streams; every
// fragment acknowledged PERSISTED before the crash is stored afterwards,
// and the new ingest takes the camera's next session.
func TestCrashWhileStreaming(t *testing.T) {
	ctx := context.Background()
	st, err := stacktest.Start(ctx)
	require.NoError(t, err)
	defer st.Close(ctx)
	createStream(t, st, "live", "")
	pm, err := kvsclient.StartPutMedia(ctx, st.AdminClient(), st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "live"})
	require.NoError(t, err)
	defer pm.Close()
	persisted := make(chan []string, 1)
	go func() {
		var numbers []string
		for {
			a, err := pm.NextAck()
			if err != nil {
				persisted <- numbers
				return
			}
			if a.EventType == kvsapi.EventPersisted {
				numbers = append(numbers, a.FragmentNumber)
			}
		}
	}()
	w := mkv.NewWriter(pm)
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	base := time.Now().Add(-time.Minute).UnixMilli()
	crashed := make(chan error, 1)
	time.AfterFunc(300*time.Millisecond, func() { crashed <- st.CrashIngest(ctx) })
	for i := range 2000 { // bounded: the crash cuts the writes long before
		tc := base + int64(i)*10
		if w.StartCluster(tc) != nil || w.WriteFrame(1, tc, true, marker) != nil || w.EndFragment() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, <-crashed)
	acked := <-persisted
	require.NotEmpty(t, acked, "fragments were persisted before the crash")
	stored := fragmentsOf(t, st, "live")
	for _, n := range acked {
		require.Contains(t, stored, n, "fragment %s was acknowledged PERSISTED before the crash", n)
	}
	require.Equal(t, 1, persistedCount(pushMarked(t, st, "live", "", base+60_000, 1)))
}

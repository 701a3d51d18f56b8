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
	"github.com/camstorm/camstorm/stack/containers"
)

// TestContainersIngestSurvivesSIGKILL: in containers mode the ingest
// container is killed with SIGKILL while a producer streams (a fragment
// open), started again on the same volume, and every fragment that was
// acknowledged PERSISTED reads back and decrypts.
func TestContainersIngestSurvivesSIGKILL(t *testing.T) {
	containers.SkipIfNoDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.StartContainers(ctx, stack.Options{}, stack.ContainersOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close(context.Background())) })
	hc := st.AdminClient()
	require.NoError(t, kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "durable", DataRetentionInHours: 1}, nil))

	pm, err := kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "durable"})
	require.NoError(t, err)
	defer pm.Close()
	persisted := make(chan string, 100)
	go func() {
		defer close(persisted)
		for {
			a, err := pm.NextAck()
			if err != nil {
				return
			}
			if a.EventType == kvsapi.EventPersisted {
				persisted <- a.FragmentNumber
			}
		}
	}()
	w := mkv.NewWriter(pm)
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	base := time.Now().Add(-time.Minute).UnixMilli()
	var acked []string
	for i := 0; len(acked) < 10; i++ {
		tc := base + int64(i)*100
		require.NoError(t, w.StartCluster(tc))
		require.NoError(t, w.WriteFrame(1, tc, true, marker))
		for drained := false; !drained; {
			select {
			case n := <-persisted:
				acked = append(acked, n)
			case <-time.After(20 * time.Millisecond):
				drained = true
			}
		}
	}
	// A fragment is open (its cluster started, not yet closed by the next).
	require.NoError(t, st.Container(stack.RoleIngest).Kill(ctx))
	for n := range persisted { // the last ACKs that made it out
		acked = append(acked, n)
	}
	require.NoError(t, st.Container(stack.RoleIngest).Start(ctx)) // returns once healthy again

	stored := fragmentsOf(t, st, "durable")
	require.Subset(t, stored, acked, "every PERSISTED fragment is still listed after kill -9")
	resp, err := hc.Post(st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType,
		jsonBody(t, kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "durable"}, Fragments: acked}))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, len(acked), countMarker(readAll(t, resp.Body)), "and reads back, decrypted")
	t.Logf("%d fragments PERSISTED before the kill, all read back after the restart", len(acked))
}

package kvsclient_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
	"github.com/stretchr/testify/require"
)

func TestCallAndPutMediaAgainstTheStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	hc := st.AdminClient()

	err = kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "cam"}, nil)
	require.True(t, kvsclient.IsException(err, kvsapi.ExcResourceNotFound), "%v", err)
	var e *kvsapi.Exception
	require.ErrorAs(t, err, &e)
	require.Equal(t, 404, e.Status)
	require.NotEmpty(t, e.Message)

	_, err = kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "cam"})
	require.True(t, kvsclient.IsException(err, kvsapi.ExcResourceNotFound), "PutMedia to a missing stream: %v", err)

	require.NoError(t, kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "cam", DataRetentionInHours: 1}, nil))
	var ep kvsapi.GetDataEndpointOutput
	require.NoError(t, kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: "cam"}, APIName: "PUT_MEDIA"}, &ep))

	pm, err := kvsclient.StartPutMedia(ctx, hc, ep.DataEndpoint, kvsclient.PutMediaOptions{StreamName: "cam"})
	require.NoError(t, err)
	defer pm.Close()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 500_000, FPS: 10, GOP: time.Second, Seed: 1, Width: 320, Height: 240})
	require.NoError(t, err)
	w := mkv.NewWriter(pm)
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{src.Track()}}))
	base := time.Now().UnixMilli()
	for range 30 { // three fragments
		f := src.Next()
		if f.Key {
			require.NoError(t, w.StartCluster(base+f.PTS.Milliseconds()))
		}
		require.NoError(t, w.WriteFrame(1, base+f.PTS.Milliseconds(), f.Key, f.Data))
	}
	require.NoError(t, w.EndFragment())
	require.NoError(t, pm.CloseWrite())

	var events []kvsapi.EventType
	for {
		a, err := pm.NextAck()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if a.EventType != kvsapi.EventIdle {
			events = append(events, a.EventType)
		}
	}
	count := map[kvsapi.EventType]int{}
	for _, ev := range events {
		count[ev]++
	}
	require.Equal(t, map[kvsapi.EventType]int{kvsapi.EventBuffering: 3, kvsapi.EventReceived: 3, kvsapi.EventPersisted: 3}, count, "%v", events)
}

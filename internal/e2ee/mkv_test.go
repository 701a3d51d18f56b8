package e2ee_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/mkv"
)

// TestInMKV writes an encrypted stream the way the contract lays it out
// (video on track 1, the envelope as the first block of every cluster on a
// key track) with the real MKV writer, reads it back with the real demuxer,
// and checks that every fragment opens and that no frame's plaintext appears
// in what an ingest receives.
func TestInMKV(t *testing.T) {
	for _, kem := range []e2ee.KEM{e2ee.KEMX25519, e2ee.KEMMLKEM768X25519} {
		t.Run(kem.String(), func(t *testing.T) {
			rnd := mrand.NewChaCha8([32]byte{7})
			consumer, err := e2ee.GenerateKey(kem, rnd)
			if err != nil {
				t.Fatal(err)
			}
			s, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: "cam-mkv", Recipients: []e2ee.PublicKey{consumer.Public()}, RotateFragments: 2, Rand: rnd})
			if err != nil {
				t.Fatal(err)
			}
			var stream bytes.Buffer
			w := mkv.NewWriter(&stream)
			err = w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{
				{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecH264, CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff}, Width: 640, Height: 360},
				{Number: 2, UID: 2, Type: mkv.TrackMetadata, CodecID: e2ee.CodecID, Name: e2ee.TrackName},
			}})
			if err != nil {
				t.Fatal(err)
			}
			var plain [][]byte
			var sealed []byte
			const fragments, perFragment = 5, 4
			for f := range fragments {
				tc := int64(1_700_000_000_000 + f*2000)
				env, err := s.BeginFragment(tc)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.StartCluster(tc); err != nil {
					t.Fatal(err)
				}
				if err := w.WriteFrame(2, tc, true, env); err != nil {
					t.Fatal(err)
				}
				for i := range perFragment {
					frame := fmt.Appendf(nil, "plaintext frame %d of fragment %d, long enough to search for", i, f)
					plain = append(plain, frame)
					sealed, err = s.SealFrame(sealed[:0], uint32(i), i == perFragment-1, uint64(len(plain)-1), frame)
					if err != nil {
						t.Fatal(err)
					}
					if err := w.WriteFrame(1, tc+int64(i)*33, i == 0, sealed); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, p := range plain {
				if bytes.Contains(stream.Bytes(), p) {
					t.Fatalf("the MKV an ingest receives contains the plaintext %q", p)
				}
			}

			got := openMKV(t, stream.Bytes(), e2ee.NewOpener("cam-mkv", consumer))
			if len(got) != len(plain) {
				t.Fatalf("opened %d frames from the MKV, want %d", len(got), len(plain))
			}
			for i := range plain {
				if !bytes.Equal(got[i], plain[i]) {
					t.Errorf("frame %d = %q, want %q", i, got[i], plain[i])
				}
			}
		})
	}
}

// openMKV is a consumer: for each cluster, the key-track block begins the
// fragment and the video blocks are opened by position, the last as final.
func openMKV(t *testing.T, data []byte, o *e2ee.Opener) [][]byte {
	t.Helper()
	d := mkv.NewDemuxer(bytes.NewReader(data), mkv.Limits{})
	var (
		out     [][]byte
		tc      int64
		video   [][]byte
		seqWant uint64
	)
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case mkv.KindClusterStart:
			tc, video = ev.Timecode, nil
		case mkv.KindBlock:
			payload := bytes.Clone(ev.Raw[len(ev.Raw)-ev.FrameSize:])
			switch ev.Track {
			case 2:
				if len(video) != 0 {
					t.Fatalf("key block after video blocks in the cluster at %d", tc)
				}
				if err := o.BeginFragment(tc, payload); err != nil {
					t.Fatalf("BeginFragment(%d) = %v", tc, err)
				}
			case 1:
				video = append(video, payload)
			}
		case mkv.KindClusterEnd:
			for i, v := range video {
				seq, frame, err := o.OpenFrame(nil, uint32(i), i == len(video)-1, v)
				if err != nil {
					t.Fatalf("OpenFrame(index=%d) in the cluster at %d = %v", i, tc, err)
				}
				if seq != seqWant {
					t.Fatalf("frame %d of the cluster at %d has sequence %d, want %d", i, tc, seq, seqWant)
				}
				seqWant++
				out = append(out, frame)
			}
		}
	}
}

package media

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/camstorm/camstorm/internal/tooltest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/mkv"
)

// These tests show that synthetic streams are real H.264 to independent
// tools: mkvinfo reads the track, FFmpeg decodes every frame without error.

// writeSynthetic writes n frames of src as a KVS-style MKV, one cluster per GOP.
func writeSynthetic(t *testing.T, src Source, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synthetic.mkv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := bufio.NewWriter(f)
	w := mkv.NewWriter(buf)
	if err := w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{src.Track()}}); err != nil {
		t.Fatal(err)
	}
	const epoch = 1_700_000_000_000
	for range n {
		fr := src.Next()
		pts := epoch + fr.PTS.Milliseconds()
		if fr.Key {
			if err := w.StartCluster(pts); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteFrame(1, pts, fr.Key, fr.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndFragment(); err != nil {
		t.Fatal(err)
	}
	if err := buf.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInteropSyntheticDecodesAsH264(t *testing.T) {
	ffmpeg := tooltest.Require(t, "ffmpeg", "ffmpeg")
	ffprobe := tooltest.Require(t, "ffprobe", "ffmpeg")
	mkvinfo := tooltest.Require(t, "mkvinfo", "mkvtoolnix")
	cases := []SyntheticConfig{
		{BitrateBps: 1_000_000, FPS: 30, GOP: time.Second, Seed: 1, Width: 640, Height: 360},
		{BitrateBps: 2_000_000, FPS: 25, GOP: 2 * time.Second, Seed: 2, Width: 1366, Height: 768},
		{BitrateBps: 100_000, FPS: 15, GOP: 500 * time.Millisecond, Seed: 3, Width: 176, Height: 144},
	}
	for _, cfg := range cases {
		t.Run(fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), func(t *testing.T) {
			src, err := NewSynthetic(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const frames = 75 // crosses at least one GOP and the frame_num wrap at 16
			path := writeSynthetic(t, src, frames)

			info, stderr := tooltest.Run(t, mkvinfo, path)
			if stderr != "" || strings.Contains(info, "Error") || strings.Contains(info, "Warning") {
				t.Errorf("mkvinfo complains:\n%s\n%s", stderr, info)
			}
			if !strings.Contains(info, "H.264 profile: Baseline @L4") {
				t.Errorf("mkvinfo does not read the avcC as H.264 Baseline:\n%s", info)
			}

			out, stderr := tooltest.Run(t, ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
			if out != "" || stderr != "" {
				t.Errorf("ffmpeg -v error decode printed:\n%s%s", out, stderr)
			}

			out, stderr = tooltest.Run(t, ffprobe, "-v", "error", "-count_frames", "-show_streams", "-of", "json", path)
			if stderr != "" {
				t.Errorf("ffprobe -v error printed:\n%s", stderr)
			}
			var res struct {
				Streams []struct {
					CodecName    string `json:"codec_name"`
					Profile      string `json:"profile"`
					Width        int    `json:"width"`
					Height       int    `json:"height"`
					NbReadFrames string `json:"nb_read_frames"`
				} `json:"streams"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Streams) != 1 {
				t.Fatalf("ffprobe JSON (%v):\n%s", err, out)
			}
			s := res.Streams[0]
			if s.CodecName != "h264" || s.Profile != "Constrained Baseline" || s.Width != cfg.Width || s.Height != cfg.Height ||
				s.NbReadFrames != strconv.Itoa(frames) {
				t.Errorf("ffprobe stream = %s %s %dx%d, %s frames decoded; want h264 Constrained Baseline %dx%d, %d frames",
					s.CodecName, s.Profile, s.Width, s.Height, s.NbReadFrames, cfg.Width, cfg.Height, frames)
			}
		})
	}
}

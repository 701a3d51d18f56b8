package results

import (
	"cmp"
	"slices"
	"strings"
)

// MaxWorstCameras bounds the per-camera summaries a results file keeps.
const MaxWorstCameras = 20

// CameraSummary is one camera's outcome over a run, kept for the cameras
// that fared worst (camera ids never make series, so this is the only
// per-camera record a results file holds).
type CameraSummary struct {
	Stream     string `json:"stream"`
	Profile    string `json:"profile,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Fragments  int64  `json:"fragments"`
	Persisted  int64  `json:"persisted"`
	Lost       int64  `json:"lost"`
	Integrity  int64  `json:"integrity_failures"`
	Reconnects int64  `json:"reconnects"`
	AckErrors  int64  `json:"ack_errors"`
	Problem    string `json:"problem,omitempty"`
}

// WorstCameras returns at most n of cams, worst first: most lost, then
// integrity failures, reconnects, ERROR ACKs, then by stream name.
func WorstCameras(cams []CameraSummary, n int) []CameraSummary {
	out := slices.Clone(cams)
	slices.SortStableFunc(out, func(a, b CameraSummary) int {
		return cmp.Or(cmp.Compare(b.Lost, a.Lost), cmp.Compare(b.Integrity, a.Integrity),
			cmp.Compare(b.Reconnects, a.Reconnects), cmp.Compare(b.AckErrors, a.AckErrors), strings.Compare(a.Stream, b.Stream))
	})
	return out[:min(len(out), max(n, 0))]
}

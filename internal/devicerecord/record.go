// Package devicerecord is the bounded record a device check keeps of what a
// device sent to the reference ingest and what the ingest answered and
// injected: the data the device conformance suite judges.
package devicerecord

import "time"

// Bounds of a record, so that a long run cannot fill memory: the first
// items are kept, the rest counted in Dropped.
const (
	MaxSessions          = 1000
	MaxFragments         = 20000
	MaxAcks              = 60000
	MaxFramesPerFragment = 600
	MaxHeaderBytes       = 64 << 10
	MaxTagsPerFragment   = 16
)

// Record is everything observed on one stream during a device check.
type Record struct {
	Stream  string    `json:"stream"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// CredentialLifetime is how long the credentials the device was given
	// last; 0 when unknown (the credential-refresh case then judges only
	// what it saw).
	CredentialLifetime time.Duration `json:"credential_lifetime,omitempty"`

	Sessions  []Session  `json:"sessions"`
	Fragments []Fragment `json:"fragments"`
	Acks      []Ack      `json:"acks"`
	Faults    []Fault    `json:"faults"`
	// Planned lists the schedule's faults; those not in Faults never fired.
	Planned []string `json:"planned,omitempty"`
	Dropped Dropped  `json:"dropped"`
}

// Dropped counts what the bounds left out.
type Dropped struct {
	Sessions, Fragments, Acks, Frames, HeaderBytes int
}

// Session is one PutMedia request.
type Session struct {
	Index  int       `json:"index"` // 0-based, in arrival order
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Remote string    `json:"remote"`
	// AccessKeyID is the key in the request's SigV4 Authorization header.
	AccessKeyID string `json:"access_key_id"`
	// SessionToken: the request carried X-Amz-Security-Token, as requests
	// signed with temporary credentials do.
	SessionToken  bool   `json:"session_token,omitempty"`
	TimecodeType  string `json:"timecode_type"`
	ProducerStart string `json:"producer_start,omitempty"`
	UserAgent     string `json:"user_agent,omitempty"`
	// Header holds the raw bytes of the session's first MKV header: the
	// EBML header, then the Segment's header elements (Info, Tracks,
	// Tags), without the Segment element itself.
	Header []byte `json:"header,omitempty"`
	// EBMLHeader is the raw EBML header element alone.
	EBMLHeader []byte  `json:"ebml_header,omitempty"`
	Tracks     []Track `json:"tracks,omitempty"`
	// TimecodeScale in ns (1 000 000 when the device declared none).
	TimecodeScale uint64 `json:"timecode_scale"`
	// ClusterBeforeHeader: a Cluster came before any EBML header and Tracks.
	ClusterBeforeHeader bool `json:"cluster_before_header,omitempty"`
	Segments            int  `json:"segments"` // EBML headers in the body
	// Final is the session's last ACK when it was an ERROR, else empty.
	FinalErrorID int  `json:"final_error_id,omitempty"`
	Cut          bool `json:"cut,omitempty"` // a close fault ended it
}

// Track is one TrackEntry as the device declared it.
type Track struct {
	Number          uint64 `json:"number"`
	Type            uint64 `json:"type"` // 1 video, 2 audio, 0x21 metadata…
	CodecID         string `json:"codec_id"`
	Name            string `json:"name,omitempty"`
	CodecPrivateLen int    `json:"codec_private_len"`
}

// Fragment is one Cluster as it arrived; a resent fragment appears again.
type Fragment struct {
	Session  int       `json:"session"`
	Arrived  time.Time `json:"arrived"`
	Timecode int64     `json:"timecode"` // Cluster Timecode as sent
	// ProducerMs is the producer timestamp (start header added for
	// RELATIVE timecodes).
	ProducerMs int64 `json:"producer_ms"`
	// Ordinal numbers the distinct fragments of the run in first-arrival
	// order, from 1; a resent fragment keeps its ordinal.
	Ordinal  int   `json:"ordinal"`
	Resent   bool  `json:"resent,omitempty"`
	Size     int64 `json:"size"`
	Complete bool  `json:"complete"` // it ended (not cut by the end of its session)
	// Frames are the fragment's blocks in order (bounded).
	Frames []Frame `json:"frames"`
	// Tags are the SimpleTag names that followed the Cluster.
	Tags []string `json:"tags,omitempty"`
	// KeyTrackBlock: a block on a track whose CodecID is the E2EE
	// envelope codec came in this fragment.
	KeyTrackBlock bool `json:"key_track_block,omitempty"`
	// PlainVideo: the first video frame parses as a chain of 4-byte
	// length-prefixed NAL units filling it exactly (plaintext AVCC/HVCC).
	PlainVideo bool `json:"plain_video,omitempty"`
}

// Frame is one block.
type Frame struct {
	Track uint64 `json:"track"`
	Rel   int16  `json:"rel"` // timecode relative to the Cluster, in ticks
	Key   bool   `json:"key,omitempty"`
	Size  int    `json:"size"`
}

// Ack is one ACK the ingest sent (or held back, then sent).
type Ack struct {
	Session        int           `json:"session"`
	Time           time.Time     `json:"time"`
	Event          string        `json:"event"`
	FragmentNumber string        `json:"fragment_number,omitempty"`
	Timecode       int64         `json:"timecode"`
	HasTimecode    bool          `json:"has_timecode"`
	ErrorID        int           `json:"error_id,omitempty"`
	HeldFor        time.Duration `json:"held_for,omitempty"`
	Injected       bool          `json:"injected,omitempty"`
}

// SentAt is when the ACK went out: after its hold.
func (a Ack) SentAt() time.Time { return a.Time.Add(a.HeldFor) }

// Fault is one injected fault.
type Fault struct {
	Spec    string    `json:"spec"` // as written in the schedule
	Kind    string    `json:"kind"` // close, error, withhold, throttle, stall
	Time    time.Time `json:"time"`
	Session int       `json:"session"`
	// Ordinal, Timecode and ProducerMs name the fragment in progress when
	// the fault fired (Ordinal 0: none).
	Ordinal    int   `json:"ordinal,omitempty"`
	Timecode   int64 `json:"timecode,omitempty"`
	ProducerMs int64 `json:"producer_ms,omitempty"`
	ErrorID    int   `json:"error_id,omitempty"`
	// Retriable is the KVS table's verdict on ErrorID (kvs-protocol.md §1.3).
	Retriable bool          `json:"retriable,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
}

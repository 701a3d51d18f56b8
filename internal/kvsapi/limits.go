package kvsapi

import "time"

// Service limits the reference ingest enforces (§1.5, §2.4).
const (
	MaxFragmentDuration   = 10 * time.Second
	MaxFragmentSize       = 50 << 20 // bytes
	MaxTracks             = 3
	MaxFragmentTags       = 10  // user metadata SimpleTags per fragment
	MaxTagNameLen         = 128 // bytes
	MaxTagValueLen        = 256 // bytes
	MaxStreamNameLen      = 256
	MaxStreamTags         = 50
	MaxConnectionDuration = 45 * time.Minute
	IdleCloseAfter        = 30 * time.Second
	MaxAckLineLen         = 1024 // a producer's ACK parser takes at most this per read (§1.2)
	MaxCodecPrivate       = 1 << 20
	MaxListFragments      = 1000
	MaxFragmentListLen    = 1000
	MaxRetentionHours     = 87600 // ten years
)

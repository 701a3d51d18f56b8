// Package e2ee is camstorm's end-to-end encryption format for camera video:
// frames sealed with AES-256-GCM under a per-epoch content key that is wrapped
// with HPKE for every authorised consumer, so an ingest only ever sees
// ciphertext and wrapped keys.
//
// A camera makes one [Sealer] per stream. For every fragment (MKV Cluster) it
// calls [Sealer.BeginFragment], writes the returned envelope as the
// fragment's first block on the key track ([CodecID]), then seals the
// fragment's frames in order with [Sealer.SealFrame], the last one with
// final=true. A consumer makes one [Opener] per stream with its
// [PrivateKey], calls [Opener.BeginFragment] with the fragment's envelope and
// [Opener.OpenFrame] for each video block, passing the block's position in the
// fragment and whether it is the last one. Every fragment opens on its own.
//
// The byte layout, AAD and HPKE info encodings, nonce and rotation rules and
// the threat model are specified in docs/E2EE.md.
package e2ee

import "errors"

// CodecID is the Matroska CodecID of the key track that carries envelopes.
const CodecID = "M_CAMSTORM/E2EE"

// TrackName is the Matroska track name of the key track.
const TrackName = "camstorm-e2ee"

// Sentinel errors. Every error this package returns wraps one of them (or, for
// a failing random source, the source's error).
var (
	// ErrInvalidConfig wraps every problem NewSealer and SetRecipients find.
	ErrInvalidConfig = errors.New("e2ee: invalid config")
	// ErrInvalidKey: a key's bytes or KEM are not acceptable.
	ErrInvalidKey = errors.New("e2ee: invalid key")
	// ErrNotRecipient: the envelope holds no wrapped key for this consumer.
	ErrNotRecipient = errors.New("e2ee: not a recipient of this epoch")
	// ErrAuth: authentication failed; the data was modified, moved, reordered,
	// truncated, or belongs to another stream, epoch or fragment.
	ErrAuth = errors.New("e2ee: authentication failed")
	// ErrMalformed: the bytes do not follow the format (or exceed its limits).
	ErrMalformed = errors.New("e2ee: malformed input")
	// ErrNoFragment: a frame was sealed or opened outside a fragment (no
	// successful BeginFragment, or the fragment's final frame was sealed).
	ErrNoFragment = errors.New("e2ee: no fragment begun")
	// ErrFrameOrder: SealFrame was called with an index other than the next
	// one of the fragment.
	ErrFrameOrder = errors.New("e2ee: frame index out of order")
	// ErrEpochExhausted: the epoch's nonce counter or the epoch number space is
	// used up; begin a new fragment (which rotates) to continue.
	ErrEpochExhausted = errors.New("e2ee: epoch exhausted")
	// ErrFrameTooLarge: a frame is larger than MaxFrameSize.
	ErrFrameTooLarge = errors.New("e2ee: frame too large")
)

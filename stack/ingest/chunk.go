package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

// A stored fragment's payload (what fragstore keeps for one fragment) is
//
//	'K' 0x01                 magic and layout version
//	uvarint len(header)      the stream header elements the producer sent
//	                         before its first Cluster (Info, Tracks, its Tags...)
//	uvarint len(cluster)     the Cluster exactly as received
//	uvarint len(tags)        the user metadata that followed the Cluster
//	header, cluster, tags
//
// with tags encoded as uvarint count, then per tag uvarint len(name), name,
// uvarint len(value), value. Header and cluster are separate fragstore Parts,
// so the received bytes are written without being copied into one buffer.
const (
	payloadMagic   = 'K'
	payloadVersion = 1
)

// errBadPayload reports a stored payload that does not follow the layout above.
var errBadPayload = errors.New("ingest: stored fragment payload is malformed")

// appendPayloadHead appends the magic, version and the three section lengths.
func appendPayloadHead(dst []byte, headerLen, clusterLen, tagsLen int) []byte {
	dst = append(dst, payloadMagic, payloadVersion)
	dst = binary.AppendUvarint(dst, uint64(headerLen))
	dst = binary.AppendUvarint(dst, uint64(clusterLen))
	return binary.AppendUvarint(dst, uint64(tagsLen))
}

// appendTagList appends tags in the payload's tag encoding.
func appendTagList(dst []byte, tags []mkv.SimpleTag) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(tags)))
	for _, t := range tags {
		dst = binary.AppendUvarint(dst, uint64(len(t.Name)))
		dst = append(dst, t.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(t.Value)))
		dst = append(dst, t.Value...)
	}
	return dst
}

// tagListLen is len(appendTagList(nil, tags)).
func tagListLen(tags []mkv.SimpleTag) int {
	n := uvarintLen(uint64(len(tags)))
	for _, t := range tags {
		n += uvarintLen(uint64(len(t.Name))) + len(t.Name) + uvarintLen(uint64(len(t.Value))) + len(t.Value)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// storedPayload is a decoded payload; its slices alias the payload bytes.
type storedPayload struct {
	header, cluster []byte
	tags            []mkv.SimpleTag
}

// decodePayload splits a stored payload into its sections. Malformed input
// yields errBadPayload, never a panic.
func decodePayload(p []byte) (storedPayload, error) {
	var out storedPayload
	if len(p) < 2 || p[0] != payloadMagic || p[1] != payloadVersion {
		return out, fmt.Errorf("%w: unknown magic or version", errBadPayload)
	}
	rest := p[2:]
	var lens [3]uint64
	for i := range lens {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return out, fmt.Errorf("%w: section length %d unreadable", errBadPayload, i)
		}
		lens[i], rest = v, rest[n:]
	}
	if lens[0] > uint64(len(rest)) || lens[1] > uint64(len(rest))-lens[0] ||
		lens[2] != uint64(len(rest))-lens[0]-lens[1] {
		return out, fmt.Errorf("%w: section lengths do not add up to the payload", errBadPayload)
	}
	out.header, rest = rest[:lens[0]], rest[lens[0]:]
	out.cluster, rest = rest[:lens[1]], rest[lens[1]:]
	tags, err := decodeTagList(rest)
	if err != nil {
		return out, err
	}
	out.tags = tags
	return out, nil
}

func decodeTagList(b []byte) ([]mkv.SimpleTag, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: tag count unreadable", errBadPayload)
	}
	b = b[n:]
	// Each tag takes at least two bytes, so the count cannot ask for more
	// memory than the payload holds.
	if count > uint64(len(b))/2 {
		return nil, fmt.Errorf("%w: %d tags in %d bytes", errBadPayload, count, len(b))
	}
	tags := make([]mkv.SimpleTag, 0, count)
	field := func() (string, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", fmt.Errorf("%w: tag field runs past the payload", errBadPayload)
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, nil
	}
	for range count {
		name, err := field()
		if err != nil {
			return nil, err
		}
		value, err := field()
		if err != nil {
			return nil, err
		}
		tags = append(tags, mkv.SimpleTag{Name: name, Value: value})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the tags", errBadPayload, len(b))
	}
	return tags, nil
}

// Media chunks (kvs-protocol.md §2.5): each fragment is served as a
// self-contained MKV — EBML header, unknown-size Segment, the stored header
// elements, Tags{FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP}, the
// Cluster as stored, then Tags{user metadata..., and for GetMedia
// MILLIS_BEHIND_NOW and CONTINUATION_TOKEN}.

// appendChunkHead appends everything of a chunk that precedes the Cluster.
func appendChunkHead(dst []byte, header []byte, number string, serverMs, producerMs int64) []byte {
	dst = mkv.AppendEBMLHeader(dst)
	dst = mkv.AppendSegmentStart(dst)
	dst = append(dst, header...)
	return mkv.AppendTags(dst, []mkv.SimpleTag{
		{Name: kvsapi.TagFragmentNumber, Value: number},
		{Name: kvsapi.TagServerTimestamp, Value: kvsapi.FormatTagTime(serverMs)},
		{Name: kvsapi.TagProducerTimestamp, Value: kvsapi.FormatTagTime(producerMs)},
	})
}

// appendChunkTail appends the Tags that follow the Cluster: the user's
// metadata and, for GetMedia (behindMs >= 0), MILLIS_BEHIND_NOW and the
// continuation token. scratch is reused for the tag list.
func appendChunkTail(dst []byte, scratch []mkv.SimpleTag, user []mkv.SimpleTag, behindMs int64, token string) ([]byte, []mkv.SimpleTag) {
	scratch = append(scratch[:0], user...)
	if behindMs >= 0 {
		scratch = append(scratch,
			mkv.SimpleTag{Name: kvsapi.TagMillisBehindNow, Value: strconv.FormatInt(behindMs, 10)},
			mkv.SimpleTag{Name: kvsapi.TagContinuationToken, Value: token})
	}
	return mkv.AppendTags(dst, scratch), scratch
}

// GetMedia error chunk ids and descriptions (API_dataplane_GetMedia.md).
const (
	chunkErrFragmentNotFound = 4000
	chunkErrInternal         = 5000
)

var chunkErrorCodes = map[int]string{
	chunkErrFragmentNotFound: "Requested fragment is not found",
	chunkErrInternal:         "Internal error",
}

// appendErrorChunk appends a chunk that reports why a fragment could not be
// served: FRAGMENT_NUMBER, ERROR_ID and ERROR_CODE, and no media (§2.4).
func appendErrorChunk(dst []byte, number string, id int) []byte {
	dst = mkv.AppendEBMLHeader(dst)
	dst = mkv.AppendSegmentStart(dst)
	return mkv.AppendTags(dst, []mkv.SimpleTag{
		{Name: kvsapi.TagFragmentNumber, Value: number},
		{Name: kvsapi.TagErrorID, Value: strconv.Itoa(id)},
		{Name: kvsapi.TagErrorCode, Value: chunkErrorCodes[id]},
	})
}

package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The audit chain as docs/IDENTITY.md documents it, checked here without
// the reference stack's code (a suite that shared the verifier would share
// its bugs): every line is a CloudTrail-shaped JSON record whose last
// member is "auditChain":{"seq":N,"prev":HEX,"hash":HEX}; hash is
// SHA-256(prev as 32 bytes || seq as 8 big-endian bytes || body), where body
// is the line up to (not including) the comma before "auditChain"; the
// first record has seq 1 and prev 32 zero bytes, each next record seq+1
// and prev = the previous hash.

// chainMember starts the link; it is the record's last member.
var chainMember = []byte(`,"auditChain":{`)

// ChainBreak says where and why a log's chain does not verify.
type ChainBreak struct {
	// Line is the 1-based number of the first line that does not verify.
	Line   int
	Reason string
}

func (b *ChainBreak) Error() string { return fmt.Sprintf("line %d: %s", b.Line, b.Reason) }

// ChainSummary is what a verified log holds.
type ChainSummary struct {
	Records  int
	FirstSeq uint64
	LastSeq  uint64
	LastHash string
}

// verifyChain checks log's hash chain line by line and returns the first
// break. A log that ends without a newline has a torn last line; it is a
// break too (the stack moves torn lines aside rather than chaining over
// them).
func verifyChain(log []byte) (ChainSummary, *ChainBreak) {
	var sum ChainSummary
	var prev [32]byte // genesis: 32 zero bytes
	lines := bytes.SplitAfter(log, []byte("\n"))
	for i, raw := range lines {
		n := i + 1
		if len(raw) == 0 {
			continue // SplitAfter's empty tail after the last newline
		}
		line, ok := bytes.CutSuffix(raw, []byte("\n"))
		if !ok {
			return sum, &ChainBreak{Line: n, Reason: "the last line has no newline (torn write)"}
		}
		at := bytes.LastIndex(line, chainMember)
		if at < 0 || !bytes.HasSuffix(line, []byte("}}")) {
			return sum, &ChainBreak{Line: n, Reason: `no "auditChain" link as the record's last member`}
		}
		if !json.Valid(line) {
			return sum, &ChainBreak{Line: n, Reason: "the line is not valid JSON"}
		}
		var link struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(line[at+len(chainMember)-1:len(line)-1], &link); err != nil {
			return sum, &ChainBreak{Line: n, Reason: fmt.Sprintf("the auditChain link does not parse: %v", err)}
		}
		want := sum.LastSeq + 1
		if sum.Records == 0 {
			want = 1
		}
		if link.Seq != want {
			return sum, &ChainBreak{Line: n, Reason: fmt.Sprintf("seq %d, want %d (a record is missing, inserted or moved)", link.Seq, want)}
		}
		if link.Prev != hex.EncodeToString(prev[:]) {
			return sum, &ChainBreak{Line: n, Reason: fmt.Sprintf("prev %.16s…, want the previous record's hash %.16s…", link.Prev, hex.EncodeToString(prev[:]))}
		}
		h := sha256.New()
		h.Write(prev[:])
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], link.Seq)
		h.Write(seq[:])
		h.Write(line[:at])
		got := h.Sum(nil)
		if link.Hash != hex.EncodeToString(got) {
			return sum, &ChainBreak{Line: n, Reason: fmt.Sprintf("hash %.16s… does not match the record (recomputed %.16s…): the line was edited", link.Hash, hex.EncodeToString(got))}
		}
		copy(prev[:], got)
		if sum.Records == 0 {
			sum.FirstSeq = link.Seq
		}
		sum.Records++
		sum.LastSeq = link.Seq
		sum.LastHash = link.Hash
	}
	return sum, nil
}

package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrChainBroken is matched (errors.Is) by every *Break: the log was
// edited, cut, reordered or extended by something other than Log.
var ErrChainBroken = errors.New("audit: chain broken")

// BreakKind classifies the first place a log stops verifying.
type BreakKind string

// Break kinds.
const (
	// BreakMalformed: the line is not a chained record (bad JSON, no or
	// malformed auditChain link, empty, too long).
	BreakMalformed BreakKind = "malformed"
	// BreakSequence: the line's seq is not the previous one plus one
	// (a line deleted, inserted, duplicated or moved).
	BreakSequence BreakKind = "sequence"
	// BreakPrev: the line's prev is not the previous line's hash.
	BreakPrev BreakKind = "prev"
	// BreakHash: the line's hash does not match its contents (edited).
	BreakHash BreakKind = "hash"
	// BreakTorn: the last line has no newline (a write cut short by a
	// crash, or the file cut in the middle of a line).
	BreakTorn BreakKind = "torn"
	// BreakTruncated: the log ends before the checkpoint's record.
	BreakTruncated BreakKind = "truncated"
	// BreakCheckpoint: the record at the checkpoint's seq has another hash.
	BreakCheckpoint BreakKind = "checkpoint"
)

// Break locates the first problem in a log.
type Break struct {
	Kind BreakKind
	// Line is the 1-based line number; for BreakTruncated, the line the
	// first missing record would have been on.
	Line int
	// Offset is the byte offset where that line starts.
	Offset int64
	// Seq is the sequence number the line claims (0 if unreadable);
	// WantSeq the one it should have had.
	Seq, WantSeq uint64
	// Reason says what mismatched, in words.
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("line %d (byte %d): %s", b.Line, b.Offset, b.Reason)
}

// Is makes errors.Is(b, ErrChainBroken) true.
func (b *Break) Is(target error) bool { return target == ErrChainBroken }

// Report is the outcome of Verify.
type Report struct {
	// Records counts the intact records before the first break (all of
	// them when the chain is intact); Lines the lines read.
	Records uint64
	Lines   int
	Bytes   int64
	// Head is the last intact record: its seq and hash (Time is zero).
	Head Head
	// Checkpoint is the checkpoint the log was checked against, if any.
	Checkpoint *Head
	// Break is the first problem; nil when the chain is intact.
	Break *Break
}

// Intact reports whether the log verified.
func (r Report) Intact() bool { return r.Break == nil }

// String is the one-line summary the CLI prints.
func (r Report) String() string {
	if r.Break != nil {
		return fmt.Sprintf("chain broken at %v (%d records intact before it)", r.Break, r.Records)
	}
	s := fmt.Sprintf("%d records, chain intact, head %v", r.Records, r.Head)
	if r.Checkpoint != nil {
		s += fmt.Sprintf(", checkpoint %v matches", *r.Checkpoint)
	} else {
		s += ", no checkpoint (a cut at the end would not be detected)"
	}
	return s
}

// Verify reads a log written by Log from r and checks its hash chain:
// sequence numbers 1, 2, 3 …, each prev equal to the previous hash, each
// hash equal to SHA-256 over prev, seq and the record bytes. With a
// checkpoint (at most one; see ReadHead), the log must also reach the
// checkpoint's record and that record must have its hash, which detects
// records cut from the end.
//
// It reads in constant memory and stops at the first break. The error is
// the *Break (errors.Is ErrChainBroken) when the chain is broken, a read
// error, or nil; the Report is filled in every case.
func Verify(r io.Reader, checkpoint ...Head) (Report, error) {
	if len(checkpoint) > 1 {
		return Report{}, errors.New("audit: Verify takes at most one checkpoint")
	}
	v, err := newVerifier(checkpoint)
	if err != nil {
		return Report{}, err
	}
	lr := newLineReader(r, MaxLineBytes)
	for v.rep.Break == nil {
		line, start, terminated, err := lr.next()
		if errors.Is(err, io.EOF) {
			v.finish(lr.line+1, lr.off)
			break
		}
		v.rep.Lines = lr.line
		v.rep.Bytes = lr.off
		if errors.Is(err, errLineTooLong) {
			v.fail(BreakMalformed, lr.line, start, 0, fmt.Sprintf("the line is longer than %d bytes", MaxLineBytes))
			break
		}
		if err != nil {
			return v.rep, fmt.Errorf("audit: reading line %d: %w", lr.line, err)
		}
		v.line(line, lr.line, start, terminated)
	}
	if v.rep.Break != nil {
		return v.rep, v.rep.Break
	}
	return v.rep, nil
}

type verifier struct {
	rep      Report
	prev     [32]byte
	h        hash.Hash
	cp       *Head
	cpHash   [32]byte
	cpPassed bool
}

func newVerifier(checkpoint []Head) (*verifier, error) {
	v := &verifier{h: newSHA256()}
	v.rep.Head.Hash = GenesisHash
	if len(checkpoint) == 1 && checkpoint[0].Seq > 0 {
		cp := checkpoint[0]
		sum, err := hexHash(cp.Hash)
		if err != nil {
			return nil, fmt.Errorf("%w: hash %q: %v", ErrBadHead, cp.Hash, err)
		}
		v.cp, v.cpHash = &cp, sum
		v.rep.Checkpoint = &cp
	}
	return v, nil
}

func (v *verifier) fail(kind BreakKind, line int, off int64, seq uint64, reason string) {
	v.rep.Break = &Break{Kind: kind, Line: line, Offset: off, Seq: seq, WantSeq: v.rep.Head.Seq + 1, Reason: reason}
}

// line checks one line; n is its number and off its offset.
func (v *verifier) line(b []byte, n int, off int64, terminated bool) {
	want := v.rep.Head.Seq + 1
	if !terminated {
		v.fail(BreakTorn, n, off, 0, fmt.Sprintf("the last line (%d bytes) has no newline: a write cut short by a crash or the file cut mid-line; record %d is incomplete", len(b), want))
		return
	}
	if len(b) == 0 {
		v.fail(BreakMalformed, n, off, 0, fmt.Sprintf("empty line where record %d should be", want))
		return
	}
	p, why := parseLine(b)
	if why != "" {
		v.fail(BreakMalformed, n, off, 0, fmt.Sprintf("not a chained audit record (%s) where record %d should be: the line was edited or inserted", why, want))
		return
	}
	switch {
	case p.seq > want:
		v.fail(BreakSequence, n, off, p.seq, fmt.Sprintf("sequence %d, want %d: %d record(s) missing before this line (deleted) or lines reordered", p.seq, want, p.seq-want))
		return
	case p.seq < want:
		v.fail(BreakSequence, n, off, p.seq, fmt.Sprintf("sequence %d, want %d: sequence %d appears again, so this line or the one before it was inserted, duplicated or moved", p.seq, want, p.seq))
		return
	}
	if p.prev != v.prev {
		v.fail(BreakPrev, n, off, p.seq, fmt.Sprintf("prev hash %.16s… is not the hash of record %d (%.16s…): the previous record was replaced or this link edited", hex.EncodeToString(p.prev[:]), want-1, v.rep.Head.Hash))
		return
	}
	sum := chainHash(v.h, p.prev, p.seq, p.body)
	if sum != p.sum {
		v.fail(BreakHash, n, off, p.seq, fmt.Sprintf("record %d's contents do not match its hash (stored %.16s…, computed %.16s…): the line was edited", p.seq, hex.EncodeToString(p.sum[:]), hex.EncodeToString(sum[:])))
		return
	}
	if v.cp != nil && p.seq == v.cp.Seq {
		if sum != v.cpHash {
			v.fail(BreakCheckpoint, n, off, p.seq, fmt.Sprintf("record %d's hash %.16s… differs from the checkpoint's %.16s…: the log was rewritten after the checkpoint", p.seq, hex.EncodeToString(sum[:]), v.cp.Hash))
			return
		}
		v.cpPassed = true
	}
	v.prev = sum
	v.rep.Records++
	v.rep.Head = Head{Seq: p.seq, Hash: hex.EncodeToString(sum[:])}
}

// finish runs at the end of the input; n and off are where the next line
// would start.
func (v *verifier) finish(n int, off int64) {
	if v.cp != nil && !v.cpPassed {
		v.fail(BreakTruncated, n, off, 0, fmt.Sprintf("the log ends after record %d but the checkpoint names record %d: %d record(s) cut from the end", v.rep.Head.Seq, v.cp.Seq, v.cp.Seq-v.rep.Head.Seq))
	}
}

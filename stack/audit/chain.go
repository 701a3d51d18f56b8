package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Size limits. A record is at most MaxRecordBytes of JSON, CloudTrail's own
// limit; a line adds the chain link and the newline.
const (
	MaxRecordBytes = 256 << 10
	MaxLineBytes   = MaxRecordBytes + 256
)

// Link is a record's place in the hash chain, written as the last member
// of its line: "auditChain":{"seq":N,"prev":"HEX","hash":"HEX"}.
type Link struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// GenesisHash is the prev of the first record: 32 zero bytes in hex.
var GenesisHash = hex.EncodeToString(make([]byte, sha256.Size))

// The fixed parts of the chain suffix of a line.
var (
	linkOpen = []byte(`,"auditChain":{"seq":`)
	linkPrev = []byte(`,"prev":"`)
	linkHash = []byte(`","hash":"`)
	linkEnd  = []byte(`"}}`)
)

// chainHash is SHA-256(prev || seq as 8 big-endian bytes || body), where
// body is the record's JSON object without its closing brace, exactly as it
// appears at the start of the line.
func chainHash(h hash.Hash, prev [32]byte, seq uint64, body []byte) [32]byte {
	h.Reset()
	h.Write(prev[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	h.Write(s[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// appendLine appends body, the chain suffix and a newline to dst.
func appendLine(dst, body []byte, seq uint64, prev, sum [32]byte) []byte {
	dst = append(dst, body...)
	dst = append(dst, linkOpen...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, linkPrev...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, linkHash...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, linkEnd...)
	return append(dst, '\n')
}

// parsedLine is a line split into the hashed body and its link.
type parsedLine struct {
	body      []byte
	seq       uint64
	prev, sum [32]byte
}

// parseLine splits a line (without newline) into body and link, strictly:
// the link must be exactly what appendLine writes (canonical decimal,
// lower-case hex), so every byte of the line is either hashed or checked.
func parseLine(line []byte) (parsedLine, string) {
	var p parsedLine
	rest, ok := bytes.CutSuffix(line, linkEnd)
	if !ok {
		return p, `it does not end with the "auditChain" link`
	}
	var okHash, okPrev bool
	rest, okHash = cutHex(rest, p.sum[:])
	rest, ok = bytes.CutSuffix(rest, linkHash)
	if !okHash || !ok {
		return p, "its auditChain.hash is not 64 lower-case hex digits in the expected place"
	}
	rest, okPrev = cutHex(rest, p.prev[:])
	rest, ok = bytes.CutSuffix(rest, linkPrev)
	if !okPrev || !ok {
		return p, "its auditChain.prev is not 64 lower-case hex digits in the expected place"
	}
	i := len(rest)
	for i > 0 && len(rest)-i < 20 && rest[i-1] >= '0' && rest[i-1] <= '9' {
		i--
	}
	digits := rest[i:]
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || seq == 0 || digits[0] == '0' {
		return p, "its auditChain.seq is not a positive decimal number"
	}
	body, ok := bytes.CutSuffix(rest[:i], linkOpen)
	if !ok || len(body) < 2 || body[0] != '{' {
		return p, `its "auditChain" link is not the last member of a JSON object`
	}
	if !json.Valid(line) {
		return p, "it is not valid JSON"
	}
	p.body, p.seq = body, seq
	return p, ""
}

// cutHex decodes the 2*len(dst) lower-case hex digits at the end of b.
func cutHex(b, dst []byte) ([]byte, bool) {
	n := 2 * len(dst)
	if len(b) < n {
		return b, false
	}
	digits := b[len(b)-n:]
	for _, c := range digits {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return b, false
		}
	}
	if _, err := hex.Decode(dst, digits); err != nil {
		return b, false
	}
	return b[:len(b)-n], true
}

// Head is a checkpoint: the last record known durable, kept beside the log
// (HeadPath) so that cutting records off the end is detected.
type Head struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

func (h Head) String() string {
	if h.Seq == 0 {
		return "empty"
	}
	return fmt.Sprintf("seq %d sha256:%.16s…", h.Seq, h.Hash)
}

// HeadPath is where Log keeps the checkpoint of the log at logPath.
func HeadPath(logPath string) string { return logPath + ".head" }

// ErrBadHead means a checkpoint file is not one Log wrote.
var ErrBadHead = errors.New("audit: malformed checkpoint")

// ReadHead reads a checkpoint file. A missing file gives an error for
// which errors.Is(err, fs.ErrNotExist) holds.
func ReadHead(path string) (Head, error) {
	f, err := os.Open(path)
	if err != nil {
		return Head{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return Head{}, fmt.Errorf("audit: reading checkpoint: %w", err)
	}
	var h Head
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return Head{}, fmt.Errorf("%w: %s: %v", ErrBadHead, path, err)
	}
	if _, err := hexHash(h.Hash); err != nil || h.Seq == 0 {
		return Head{}, fmt.Errorf("%w: %s: want a positive seq and a 64-digit lower-case hex hash", ErrBadHead, path)
	}
	return h, nil
}

func hexHash(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 {
		return out, errors.New("not 64 hex digits")
	}
	if _, ok := cutHex([]byte(s), out[:]); !ok {
		return out, errors.New("not lower-case hex")
	}
	return out, nil
}

// writeHead replaces the checkpoint atomically: temporary file, fsync,
// rename, fsync of the directory.
func writeHead(path string, h Head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errLineTooLong is returned by lineReader.next for a line over its limit.
var errLineTooLong = errors.New("line too long")

// lineReader reads newline-terminated lines in constant memory.
type lineReader struct {
	br   *bufio.Reader
	buf  []byte
	max  int
	off  int64 // offset of the next line
	line int   // number of the last line returned, from 1
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// next returns the next line without its newline, its offset, and whether
// it ended with a newline (false only for a final, incomplete line). It
// returns io.EOF after the last line and errLineTooLong, without reading
// further, for a line longer than the limit. The line is valid until the
// next call.
func (lr *lineReader) next() (line []byte, start int64, terminated bool, err error) {
	start = lr.off
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(lr.buf)+len(chunk) > lr.max+1 {
			lr.line++
			return nil, start, false, errLineTooLong
		}
		switch {
		case err == nil:
			lr.off += int64(len(chunk))
			lr.line++
			if len(lr.buf) == 0 {
				return chunk[:len(chunk)-1], start, true, nil
			}
			lr.buf = append(lr.buf, chunk...)
			return lr.buf[:len(lr.buf)-1], start, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			lr.off += int64(len(chunk))
			lr.buf = append(lr.buf, chunk...)
		case errors.Is(err, io.EOF):
			lr.off += int64(len(chunk))
			lr.buf = append(lr.buf, chunk...)
			if len(lr.buf) == 0 {
				return nil, start, false, io.EOF
			}
			lr.line++
			return lr.buf, start, false, nil
		default:
			return nil, start, false, err
		}
	}
}

func newSHA256() hash.Hash { return sha256.New() }

package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
)

// MaxChunkBytes bounds one aws-chunked chunk; the verifier holds a whole
// chunk before releasing it, so that no unverified byte reaches the handler.
const MaxChunkBytes = 1 << 20

const chunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"

var (
	errChunkSignature = invalidSignature("The chunk signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	errChunkTruncated = newError(CodeIncompleteBody, http.StatusBadRequest,
		"The aws-chunked body ended before its final zero-length chunk.")
)

func chunkFramingError(what string) *Error {
	return newError(CodeIncompleteBody, http.StatusBadRequest, "Malformed aws-chunked body: "+what+".")
}

// chunkReader decodes an aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)
// and checks each chunk's signature, which chains from the seed signature of
// the request.
type chunkReader struct {
	br     *bufio.Reader
	h      hash.Hash
	hm     *hmacState
	key    [sha256.Size]byte
	prefix []byte // algorithm, date and scope lines of the string to sign
	prev   [sha256.Size]byte
	chunk  []byte
	off    int
	err    error
	// decoded counts payload bytes; want is x-amz-decoded-content-length or -1.
	decoded, want int64
	// skipSignatures is the deliberate defect Config.SkipSignatureCheck.
	skipSignatures bool
}

func newChunkReader(r *http.Request, key [sha256.Size]byte, amzDate string, c *credential, seed [sha256.Size]byte) *chunkReader {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	cr := &chunkReader{br: bufio.NewReaderSize(body, 256), h: sha256.New(), hm: newHMACState(), key: key, prev: seed, want: -1}
	cr.prefix = append(cr.prefix, chunkAlgorithm+"\n"...)
	cr.prefix = append(cr.prefix, amzDate...)
	cr.prefix = append(cr.prefix, '\n')
	cr.prefix = appendScope(cr.prefix, c)
	cr.prefix = append(cr.prefix, '\n')
	if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			cr.err = chunkFramingError("x-amz-decoded-content-length is not a byte count")
		}
		cr.want = n
	}
	return cr
}

func (cr *chunkReader) Read(p []byte) (int, error) {
	for cr.off == len(cr.chunk) {
		if cr.err != nil {
			return 0, cr.err
		}
		cr.err = cr.next()
	}
	n := copy(p, cr.chunk[cr.off:])
	cr.off += n
	return n, nil
}

// next reads, verifies and buffers the next chunk; it returns io.EOF after
// the final chunk.
func (cr *chunkReader) next() error {
	line, err := cr.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return chunkFramingError("chunk header line too long")
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return errChunkTruncated
	case err != nil:
		return err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	sizeHex, sigPart, ok := bytes.Cut(line, []byte(";chunk-signature="))
	if !ok || len(sizeHex) == 0 || len(sizeHex) > 8 {
		return chunkFramingError("a chunk header must be hex-size;chunk-signature=signature")
	}
	size, err := strconv.ParseUint(string(sizeHex), 16, 32)
	if err != nil {
		return chunkFramingError("chunk size is not hexadecimal")
	}
	if size > MaxChunkBytes {
		return chunkFramingError(fmt.Sprintf("chunk of %d bytes exceeds the limit of %d", size, MaxChunkBytes))
	}
	var sig [sha256.Size]byte
	if len(sigPart) != 2*sha256.Size {
		return chunkFramingError("chunk-signature must be 64 hexadecimal characters")
	}
	if _, err := hex.Decode(sig[:], sigPart); err != nil {
		return chunkFramingError("chunk-signature must be 64 hexadecimal characters")
	}
	if cap(cr.chunk) < int(size) {
		cr.chunk = make([]byte, size)
	}
	cr.chunk, cr.off = cr.chunk[:size], 0
	if _, err := io.ReadFull(cr.br, cr.chunk); err != nil {
		cr.chunk = cr.chunk[:0]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errChunkTruncated
		}
		return err
	}
	var crlf [2]byte
	if _, err := io.ReadFull(cr.br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
		cr.chunk = cr.chunk[:0]
		return chunkFramingError("chunk data must be followed by CRLF")
	}

	cr.h.Reset()
	cr.h.Write(cr.chunk)
	var dataHash [sha256.Size]byte
	cr.h.Sum(dataHash[:0])
	sts := make([]byte, 0, len(cr.prefix)+3*2*sha256.Size+3)
	sts = append(sts, cr.prefix...)
	sts = hex.AppendEncode(sts, cr.prev[:])
	sts = append(sts, '\n')
	sts = append(sts, emptyStringSHA...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, dataHash[:])
	var want [sha256.Size]byte
	cr.hm.mac(cr.key[:], sts, &want)
	if !hmac.Equal(want[:], sig[:]) && !cr.skipSignatures {
		cr.chunk = cr.chunk[:0]
		return errChunkSignature
	}
	cr.prev = sig
	cr.decoded += int64(size)
	if cr.want >= 0 && cr.decoded > cr.want {
		cr.chunk = cr.chunk[:0]
		return chunkFramingError("more payload than x-amz-decoded-content-length")
	}
	if size == 0 {
		if cr.want >= 0 && cr.decoded != cr.want {
			return chunkFramingError("less payload than x-amz-decoded-content-length")
		}
		return io.EOF
	}
	return nil
}

// hashCheckingReader passes the body through and, at its end, fails unless
// the body's SHA-256 equals the signed X-Amz-Content-Sha256.
type hashCheckingReader struct {
	r    io.Reader
	h    hash.Hash
	want [sha256.Size]byte
	err  error
}

func newHashCheckingReader(body io.Reader, hexHash string) *hashCheckingReader {
	if body == nil {
		body = http.NoBody
	}
	hr := &hashCheckingReader{r: body, h: sha256.New()}
	_, _ = hex.Decode(hr.want[:], []byte(hexHash)) // validated by isHexSHA256
	return hr
}

func (hr *hashCheckingReader) Read(p []byte) (int, error) {
	if hr.err != nil {
		return 0, hr.err
	}
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	if err == io.EOF {
		var got [sha256.Size]byte
		hr.h.Sum(got[:0])
		if got != hr.want {
			hr.err = errContentMismatch
			return n, hr.err
		}
	}
	if err != nil {
		hr.err = err
	}
	return n, err
}

// Package kvsclient is a minimal Kinesis Video Streams client over plain
// HTTP: JSON control-plane calls and a streaming PutMedia connection that
// yields parsed ACKs. Simulated cameras and the benchmark build on it.
package kvsclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Call POSTs in as JSON to baseURL+path and decodes the response into out
// (which may be nil). API errors come back as *kvsapi.Exception.
func Call(ctx context.Context, hc *http.Client, baseURL, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: reading response: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return exception(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decoding response: %w", path, err)
	}
	return nil
}

func exception(resp *http.Response, body []byte) *kvsapi.Exception {
	var eb kvsapi.ErrorBody
	_ = json.Unmarshal(body, &eb)
	if eb.Message == "" {
		eb.Message = string(bytes.TrimSpace(body))
	}
	return &kvsapi.Exception{Status: resp.StatusCode, Type: resp.Header.Get(kvsapi.HeaderErrorType), Message: eb.Message}
}

// IsException reports whether err is an API error of the given type.
func IsException(err error, typ string) bool {
	var e *kvsapi.Exception
	return errors.As(err, &e) && e.Type == typ
}

// PutMediaOptions are the PutMedia request headers.
type PutMediaOptions struct {
	StreamName   string
	TimecodeType string    // default ABSOLUTE
	ProducerTime time.Time // x-amzn-producer-start-timestamp; default now
	// Header sets extra or overriding request headers (signing adds its own).
	Header http.Header
}

// PutMedia is one open PutMedia connection: write MKV to it, read ACKs from it.
type PutMedia struct {
	body *io.PipeWriter
	resp *http.Response
	acks *bufio.Reader
}

// StartPutMedia opens a PutMedia request against dataEndpoint and returns once
// the service has answered with its status line (it answers before reading
// the body). A non-200 answer is returned as *kvsapi.Exception.
func StartPutMedia(ctx context.Context, hc *http.Client, dataEndpoint string, o PutMediaOptions) (*PutMedia, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dataEndpoint+kvsapi.PathPutMedia, pr)
	if err != nil {
		return nil, err
	}
	if o.TimecodeType == "" {
		o.TimecodeType = kvsapi.TimecodeTypeAbsolute
	}
	if o.ProducerTime.IsZero() {
		o.ProducerTime = time.Now()
	}
	req.ContentLength = -1 // chunked
	h := req.Header
	h.Set(kvsapi.HeaderStreamName, o.StreamName)
	h.Set(kvsapi.HeaderFragmentTimecodeType, o.TimecodeType)
	h.Set(kvsapi.HeaderProducerStartTime, strconv.FormatFloat(float64(o.ProducerTime.UnixMilli())/1000, 'f', 3, 64))
	h.Set(kvsapi.HeaderAckRequired, "1")
	for k, v := range o.Header {
		h[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		pw.CloseWithError(err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		pw.CloseWithError(errors.New("putMedia refused"))
		return nil, exception(resp, data)
	}
	return &PutMedia{body: pw, resp: resp, acks: bufio.NewReaderSize(resp.Body, 4096)}, nil
}

// Write sends MKV bytes. It blocks until the transport has taken them.
func (p *PutMedia) Write(b []byte) (int, error) { return p.body.Write(b) }

// CloseWrite ends the request body; ACKs keep arriving until the service
// closes the response.
func (p *PutMedia) CloseWrite() error { return p.body.Close() }

// Close aborts the connection.
func (p *PutMedia) Close() error {
	p.body.CloseWithError(errors.New("putMedia closed"))
	return p.resp.Body.Close()
}

// NextAck blocks for the next ACK line. It returns io.EOF once the service
// has ended the response.
func (p *PutMedia) NextAck() (kvsapi.Ack, error) {
	for {
		line, err := p.acks.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return kvsapi.Ack{}, fmt.Errorf("putMedia: ACK line longer than %d bytes", p.acks.Size())
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return kvsapi.ParseAck(line)
		}
		if err != nil {
			return kvsapi.Ack{}, err
		}
	}
}

// Package kvsclient is a minimal Kinesis Video Streams client over plain
// HTTP: JSON control-plane calls and a streaming PutMedia connection that
// yields parsed ACKs. Simulated cameras and the benchmark build on it.
package kvsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

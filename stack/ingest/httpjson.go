package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// requestID is an x-amzn-RequestId value.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, internalError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", kvsapi.JSONContentType)
	h.Set(kvsapi.HeaderRequestID, requestID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError sends an API error the way KVS does (§1.4): the exception name in
// x-amzn-ErrorType, a JSON body with Message.
func writeError(w http.ResponseWriter, e *kvsapi.Exception) {
	h := w.Header()
	h.Set("Content-Type", kvsapi.JSONContentType)
	h.Set(kvsapi.HeaderErrorType, e.Type)
	h.Set(kvsapi.HeaderRequestID, requestID())
	w.WriteHeader(e.Status)
	body, _ := json.Marshal(kvsapi.ErrorBody{Message: e.Message})
	_, _ = w.Write(body)
}

func invalidArgument(format string, args ...any) *kvsapi.Exception {
	return &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *kvsapi.Exception {
	return &kvsapi.Exception{Status: http.StatusNotFound, Type: kvsapi.ExcResourceNotFound, Message: fmt.Sprintf(format, args...)}
}

func internalError(err error) *kvsapi.Exception {
	return &kvsapi.Exception{Status: http.StatusInternalServerError, Type: kvsapi.ExcInternalFailure, Message: err.Error()}
}

// decodeJSON reads a size-limited JSON request body into v.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) *kvsapi.Exception {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &kvsapi.Exception{Status: http.StatusRequestEntityTooLarge, Type: kvsapi.ExcInvalidArgument,
			Message: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit)}
	case err != nil:
		return invalidArgument("reading request body: %v", err)
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidArgument("request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// streamRequest decodes a request body into in, checks the caller may
// perform action on the stream that ref (in itself or a field of it) names,
// and resolves it. On failure it has already answered.
func (s *Server) streamRequest(w http.ResponseWriter, r *http.Request, action string, in any, ref *kvsapi.StreamRef) (*stream, bool) {
	if e := s.decodeJSON(w, r, in); e != nil {
		writeError(w, e)
		return nil, false
	}
	if !s.authorize(w, r, Access{Action: action, Resource: s.streamResource(*ref)}) {
		return nil, false
	}
	st, e := s.streams.resolve(*ref)
	if e != nil {
		writeError(w, e)
		return nil, false
	}
	return st, true
}

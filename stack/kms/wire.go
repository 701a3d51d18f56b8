package kms

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds a request body; the largest legal KMS request (a
// 32 KiB policy or a 6 KiB blob in base64 plus context) fits well inside.
const maxBodyBytes = 256 << 10

const targetPrefix = "TrentService."

// apiError is an error in the AWS JSON shape {"__type": ..., "message": ...}.
type apiError struct {
	Type    string
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errorf(typ string, status int, format string, args ...any) *apiError {
	return &apiError{Type: typ, Status: status, Message: fmt.Sprintf(format, args...)}
}

func validationErr(format string, args ...any) *apiError {
	return errorf("ValidationException", http.StatusBadRequest, format, args...)
}
func notFoundErr(format string, args ...any) *apiError {
	return errorf("NotFoundException", http.StatusNotFound, format, args...)
}
func invalidStateErr(format string, args ...any) *apiError {
	return errorf("KMSInvalidStateException", http.StatusConflict, format, args...)
}
func invalidCiphertextErr() *apiError {
	return errorf("InvalidCiphertextException", http.StatusBadRequest,
		"the ciphertext is invalid, was made under another key, or its encryption context does not match")
}
func unsupportedErr(format string, args ...any) *apiError {
	return errorf("UnsupportedOperationException", http.StatusBadRequest, format, args...)
}

// epoch is a timestamp in the JSON 1.1 wire form: seconds since 1970 as a number.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(e).UnixMilli())/1000, 'f', -1, 64)), nil
}

func epochOrNil(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// call is one request being served.
type call struct {
	op      string
	caller  Caller
	context map[string]string // the encryption context, for kms:EncryptionContext conditions
	body    []byte
	keyID   string // for the audit line; set when a key is resolved
}

func (c *call) decode(v any) error {
	if len(c.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errorf("SerializationException", http.StatusBadRequest, "request body is not valid JSON for %s: %v", c.op, err)
	}
	return nil
}

// principalOf returns the access key id of a SigV4 Authorization header.
// The signature is NOT verified yet: until the IAM package lands, a caller can
// claim any access key id. Requests without SigV4 are "anonymous".
func principalOf(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	const scheme = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, scheme) {
		return anonymousPrincipal
	}
	for part := range strings.SplitSeq(auth[len(scheme):], ",") {
		part = strings.TrimSpace(part)
		if cred, ok := strings.CutPrefix(part, "Credential="); ok {
			akid, _, _ := strings.Cut(cred, "/")
			if akid != "" && len(akid) <= 128 {
				return akid
			}
		}
	}
	return anonymousPrincipal
}

// callerOf is the request's caller: from Config.Caller when the stack
// authenticated it, otherwise a stand-in named by the claimed access key.
func (s *Server) callerOf(r *http.Request) Caller {
	if s.cfg.Caller != nil {
		c, _ := s.cfg.Caller(r) // unauthenticated: the anonymous caller
		return c
	}
	return standInCaller(s.cfg.Account, principalOf(r))
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	reqID, err := s.newUUID()
	if err != nil {
		reqID = "unavailable"
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	c := &call{caller: s.callerOf(r)}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	c.op = op
	var resp any
	var apiErr *apiError
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		apiErr = errorf("UnknownOperationException", http.StatusNotFound, "KMS accepts only POST / with X-Amz-Target")
	case !ok || operations[op] == nil:
		c.op = "unknown"
		apiErr = errorf("UnknownOperationException", http.StatusBadRequest, "unknown operation %q", r.Header.Get("X-Amz-Target"))
	default:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			apiErr = errorf("SerializationException", http.StatusRequestEntityTooLarge, "request body unreadable or larger than %d bytes", maxBodyBytes)
			break
		}
		c.body = body
		resp, err = s.dispatch(c)
		if err != nil && !errors.As(err, &apiErr) {
			apiErr = errorf("KMSInternalException", http.StatusInternalServerError, "internal error: %v", err)
		}
	}
	outcome := "ok"
	if apiErr != nil {
		outcome = apiErr.Type
	}
	keyID := c.keyID
	if keyID == "" {
		keyID = "-"
	}
	s.cfg.Logf("kms: request=%s op=%s key=%s principal=%s access_key=%s outcome=%s", reqID, c.op, keyID, c.caller.name(), cmpOr(c.caller.Principal.ID, "-"), outcome)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if apiErr != nil {
		w.Header().Set("X-Amzn-ErrorType", apiErr.Type)
		w.WriteHeader(apiErr.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": apiErr.Type, "message": apiErr.Message})
		return
	}
	if resp == nil {
		resp = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) dispatch(c *call) (any, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errorf("KMSInternalException", http.StatusServiceUnavailable, "the KMS server is closed")
	}
	return operations[c.op](s, c)
}

// page returns the window [from, to) of n items for Limit/Marker paging.
func page(n int, limit *int32, marker string, maxLimit int32) (from, to int, next string, err error) {
	l := int32(100)
	if maxLimit < l {
		l = maxLimit
	}
	if limit != nil {
		if *limit < 1 || *limit > maxLimit {
			return 0, 0, "", validationErr("Limit must be between 1 and %d", maxLimit)
		}
		l = *limit
	}
	if marker != "" {
		v, perr := strconv.Atoi(marker)
		if perr != nil || v < 0 || v > n {
			return 0, 0, "", validationErr("Marker %q is not a marker returned by a previous call", marker)
		}
		from = v
	}
	to = min(from+int(l), n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

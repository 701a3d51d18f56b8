package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/sigv4"
)

// The gateway fronts every SigV4 service of the stack (the KVS control and
// data planes, the KMS, STS): it verifies the request's signature, puts
// the caller into the request's context for the service's authorisation,
// and appends one audit record per request, allowed or denied, once the
// service has answered.

// caller is the authenticated principal of a request, and what the
// authorisation steps checked, for the audit record.
type caller struct {
	iam.Principal
	AccessKeyID string
	SourceIP    string

	mu        sync.Mutex
	resources []audit.Resource
}

// touched records a resource the request was authorised against.
func (c *caller) touched(arn, typ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.resources {
		if r.ARN == arn {
			return
		}
	}
	if len(c.resources) < 8 {
		c.resources = append(c.resources, audit.Resource{ARN: arn, Type: typ, AccountID: c.Account})
	}
}

type callerKey struct{}

// callerOf returns the authenticated caller of a request's context.
func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// service describes one SigV4 service to the gateway.
type service struct {
	signingName string
	protocol    sigv4.Protocol
	source      audit.Source
	// operation names the request's API operation (the audit eventName).
	operation func(r *http.Request) string
	// streaming routes keep their body unread (PutMedia); the others are
	// read up to maxBody to check the signed payload hash.
	streaming func(r *http.Request) bool
	maxBody   int64
	tooLarge  string // the error code of a body over maxBody
	// dataEvent and readOnly classify operations for the audit record.
	dataEvent, readOnly func(operation string) bool
}

// gateway is the authentication and audit front of the stack's services.
type gateway struct {
	verifiers       map[string]*sigv4.Verifier // by signing name
	audit           *audit.Log
	region, account string
	logf            func(format string, args ...any)
	// noAuditOnDenial is the deliberate defect DefectNoAuditOnDenial.
	noAuditOnDenial bool
}

// wrap puts the gateway in front of a service's handler.
func (g *gateway) wrap(svc service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recordingWriter{ResponseWriter: w}
		var params map[string]any
		c := g.authenticate(rw, r, svc, &params)
		op := svc.operation(r) // after the body is read: STS names it in the form
		if c != nil {
			next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
		}
		g.record(r, svc, op, start, c, params, rw)
	})
}

// wrapUnsigned audits a service that authenticates its callers itself
// (device enrollment, the credential provider): every request is recorded,
// with the caller unknown to SigV4.
func (g *gateway) wrapUnsigned(svc service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recordingWriter{ResponseWriter: w}
		params := map[string]any{}
		if thing := r.Header.Get("x-amzn-iot-thingname"); thing != "" {
			params["thingName"] = thing
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			params["certificateSubject"] = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		params["path"] = r.URL.Path
		next.ServeHTTP(rw, r)
		g.record(r, svc, svc.operation(r), start, nil, params, rw)
	})
}

// authenticate reads the body of a non-streaming request (for its payload
// hash and the audit record's parameters) and verifies the signature. On
// failure it has answered and returns nil.
func (g *gateway) authenticate(w *recordingWriter, r *http.Request, svc service, params *map[string]any) *caller {
	payload := sigv4.Stream()
	if !svc.streaming(r) {
		body, err := io.ReadAll(io.LimitReader(r.Body, svc.maxBody+1))
		if err != nil || int64(len(body)) > svc.maxBody {
			e := &sigv4.Error{Code: "SerializationException", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("reading the request body: %v", err)}
			if err == nil {
				e.Status, e.Code, e.Message = http.StatusRequestEntityTooLarge, svc.tooLarge,
					fmt.Sprintf("request body exceeds %d bytes", svc.maxBody)
			}
			e.WriteError(w, svc.protocol)
			return nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		payload = sigv4.Body(body)
		*params = requestParameters(r, body)
	} else {
		*params = headerParameters(r)
	}
	res, err := g.verifiers[svc.signingName].Verify(r, payload)
	if err != nil {
		var e *sigv4.Error
		if !errors.As(err, &e) {
			e = &sigv4.Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Message: err.Error()}
		}
		if svc.streaming(r) {
			// The body was not read: without Connection: close the server
			// would drain it before answering, and a producer that waits
			// for the response head before sending media would never see
			// the refusal.
			w.Header().Set("Connection", "close")
		}
		e.WriteError(w, svc.protocol)
		return nil
	}
	cred, _ := res.Identity.(iam.Credential)
	if res.Body != nil {
		r.Body = io.NopCloser(res.Body)
	}
	return &caller{Principal: cred.Principal, AccessKeyID: res.AccessKeyID, SourceIP: sourceIP(r)}
}

// record appends the request's audit record.
func (g *gateway) record(r *http.Request, svc service, op string, start time.Time, c *caller, params map[string]any, rw *recordingWriter) {
	o := audit.Outcome{EventName: op, RequestParameters: params, RequestID: rw.Header().Get("X-Amzn-Requestid"),
		DataEvent: svc.dataEvent(op), ReadOnly: svc.readOnly(op)}
	if c != nil {
		p := c.Principal
		o.Principal, o.AccessKeyID = &p, c.AccessKeyID
		c.mu.Lock()
		o.Resources = append([]audit.Resource(nil), c.resources...)
		c.mu.Unlock()
	}
	if rw.status >= 400 {
		o.ErrorCode, o.ErrorMessage = errorOf(rw.Header(), rw.errBody.Bytes())
		if o.ErrorCode == "" {
			o.ErrorCode = http.StatusText(rw.status)
		}
	}
	if g.noAuditOnDenial && (rw.status == http.StatusForbidden || rw.status == http.StatusUnauthorized || audit.IsDenied(o.ErrorCode)) {
		return // deliberate defect: denials leave no trace
	}
	rec := svc.source.FromRequest(r, o)
	rec.EventTime = start.UTC().Truncate(time.Second)
	if err := g.audit.Append(rec); err != nil {
		g.logf("audit: %s %s not recorded: %v", svc.source.EventSource, op, err)
	}
}

// errorOf reads the error type and message a service answered with, in
// any of the stack's protocols: x-amzn-ErrorType and {"Message"} (KVS),
// {"__type", "message"} (KMS), an XML ErrorResponse (STS).
func errorOf(h http.Header, body []byte) (code, message string) {
	code = h.Get("X-Amzn-Errortype")
	if i := strings.IndexAny(code, ":"); i >= 0 {
		code = code[:i]
	}
	var j struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageC string `json:"Message"`
	}
	if json.Unmarshal(body, &j) == nil {
		if code == "" {
			code = j.Type
		}
		message = j.Message + j.MessageC
	} else {
		var x struct {
			Error struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		}
		if xml.Unmarshal(body, &x) == nil {
			if code == "" {
				code = x.Error.Code
			}
			message = x.Error.Message
		}
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return code, message
}

// maxParamsBody bounds the request bodies parsed for the audit record.
const maxParamsBody = 64 << 10

// requestParameters are a request's JSON body or form fields, for the
// audit record (audit.Redact removes secrets).
func requestParameters(r *http.Request, body []byte) map[string]any {
	if len(body) == 0 || len(body) > maxParamsBody {
		return nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body)) // ParseForm consumed it
		params := map[string]any{}
		for k, v := range r.PostForm {
			if k != "Action" && k != "Version" && len(v) > 0 {
				params[k] = v[0]
			}
		}
		return params
	}
	var params map[string]any
	if json.Unmarshal(body, &params) != nil {
		return nil
	}
	return params
}

// headerParameters are a streaming request's KVS headers.
func headerParameters(r *http.Request) map[string]any {
	params := map[string]any{}
	for _, h := range []string{"x-amzn-stream-name", "x-amzn-stream-arn", "x-amzn-fragment-timecode-type", "x-amzn-producer-start-timestamp"} {
		if v := r.Header.Get(h); v != "" {
			params[h] = v
		}
	}
	return params
}

// maxErrorBody bounds the error body kept for the audit record.
const maxErrorBody = 4 << 10

// recordingWriter notes the status and the start of an error body. It
// unwraps for http.ResponseController (PutMedia's full duplex, flushes and
// deadlines).
type recordingWriter struct {
	http.ResponseWriter
	status  int
	errBody bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 && w.errBody.Len() < maxErrorBody {
		w.errBody.Write(b[:min(len(b), maxErrorBody-w.errBody.Len())])
	}
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets handlers that flush through http.Flusher keep working.
func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func sourceIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

package scenarios

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/grafana/sobek"
)

// DefaultHTTPTimeout is k6's default request timeout.
const DefaultHTTPTimeout = 60 * time.Second

// maxResponseBody bounds what one response keeps in memory.
const maxResponseBody = 64 << 20

// httpModule is `k6/http`: requests for control-plane calls, with k6's
// response shape and http_req_* metrics.
func (v *VU) httpModule() *sobek.Object {
	m := v.rt.NewObject()
	_ = m.Set("request", func(method, u string, body sobek.Value, params sobek.Value) sobek.Value {
		return v.request(method, u, body, params)
	})
	for _, method := range []string{"get", "head"} {
		verb := strings.ToUpper(method)
		_ = m.Set(method, func(u string, params sobek.Value) sobek.Value { return v.request(verb, u, nil, params) })
	}
	for name, verb := range map[string]string{"post": "POST", "put": "PUT", "patch": "PATCH", "del": "DELETE", "options": "OPTIONS"} {
		_ = m.Set(name, func(u string, body, params sobek.Value) sobek.Value { return v.request(verb, u, body, params) })
	}
	_ = m.Set("expectedStatuses", func(call sobek.FunctionCall) sobek.Value {
		var ranges [][2]int64
		for _, a := range call.Arguments {
			if o, ok := a.(*sobek.Object); ok && o.Get("min") != nil {
				hi := o.Get("max")
				if hi == nil || sobek.IsUndefined(hi) {
					panic(v.rt.NewTypeError("expectedStatuses({min, max}): max is missing"))
				}
				ranges = append(ranges, [2]int64{o.Get("min").ToInteger(), hi.ToInteger()})
				continue
			}
			n := a.ToInteger()
			ranges = append(ranges, [2]int64{n, n})
		}
		return v.rt.ToValue(&expectedStatuses{ranges: ranges})
	})
	_ = m.Set("setResponseCallback", func(cb sobek.Value) {
		if e, ok := cb.Export().(*expectedStatuses); ok {
			v.test.setExpected(e)
		}
	})
	return m
}

// expectedStatuses says which statuses are not failures (http_req_failed).
type expectedStatuses struct{ ranges [][2]int64 }

func (e *expectedStatuses) expected(status int) bool {
	if e == nil {
		return status >= 200 && status < 400
	}
	for _, r := range e.ranges {
		if int64(status) >= r[0] && int64(status) <= r[1] {
			return true
		}
	}
	return false
}

// requestParams is what camstorm reads of k6's params object.
type requestParams struct {
	headers      map[string]string
	tags         map[string]string
	timeout      time.Duration
	responseType string
}

func (v *VU) params(p sobek.Value) requestParams {
	rp := requestParams{timeout: DefaultHTTPTimeout, responseType: "text"}
	if p == nil || sobek.IsUndefined(p) || sobek.IsNull(p) {
		return rp
	}
	o := p.ToObject(v.rt)
	if h := o.Get("headers"); h != nil && !sobek.IsUndefined(h) && !sobek.IsNull(h) {
		rp.headers = stringMap(h.ToObject(v.rt))
	}
	if t := o.Get("tags"); t != nil && !sobek.IsUndefined(t) && !sobek.IsNull(t) {
		rp.tags = stringMap(t.ToObject(v.rt))
	}
	if t := o.Get("timeout"); t != nil && !sobek.IsUndefined(t) {
		if d, err := ParseDuration(t.String()); err == nil && d > 0 {
			rp.timeout = d.D()
		}
	}
	if r := o.Get("responseType"); r != nil && !sobek.IsUndefined(r) {
		rp.responseType = r.String()
	}
	return rp
}

// requestBody turns k6's body argument into bytes: a string, an
// ArrayBuffer, or an object sent form-encoded.
func (v *VU) requestBody(body sobek.Value, headers map[string]string) ([]byte, error) {
	if body == nil || sobek.IsUndefined(body) || sobek.IsNull(body) {
		return nil, nil
	}
	switch x := body.Export().(type) {
	case string:
		return []byte(x), nil
	case sobek.ArrayBuffer:
		return x.Bytes(), nil
	case []byte:
		return x, nil
	case map[string]any:
		form := url.Values{}
		for k, val := range x {
			form.Set(k, fmt.Sprint(val))
		}
		if _, ok := headerValue(headers, "Content-Type"); !ok {
			headers["Content-Type"] = "application/x-www-form-urlencoded"
		}
		return []byte(form.Encode()), nil
	}
	return []byte(body.String()), nil
}

func headerValue(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// request performs one HTTP request and emits k6's http metrics. Network
// errors are in the response (error, error_code, status 0), not thrown.
func (v *VU) request(method, rawURL string, body, params sobek.Value) sobek.Value {
	if v.initPhase {
		panic(v.rt.NewTypeError("HTTP requests cannot be made in the init context (top-level code); make them in setup() or a VU function"))
	}
	p := v.params(params)
	if p.headers == nil {
		p.headers = map[string]string{}
	}
	payload, err := v.requestBody(body, p.headers)
	if err != nil {
		panic(v.rt.NewGoError(err))
	}
	ctx, cancel := context.WithTimeout(v.ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(payload))
	if err != nil {
		panic(v.rt.NewGoError(fmt.Errorf("http.%s(%q): %w", strings.ToLower(method), rawURL, err)))
	}
	for k, val := range p.headers {
		req.Header.Set(k, val)
	}
	if ua := v.test.userAgent; ua != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", ua)
	}
	var tr traceTimes
	req = req.WithContext(httptrace.WithClientTrace(ctx, tr.trace()))
	tr.start = time.Now()
	resp, err := v.test.httpClient.Do(req)
	res := httpResult{method: method, url: rawURL, sent: int64(len(payload)) + headerBytes(req.Header) + int64(len(method)+len(rawURL)+12)}
	if err != nil {
		res.err, res.errCode = err.Error(), errorCode(err)
	} else {
		res.status, res.statusText, res.proto = resp.StatusCode, resp.Status, resp.Proto
		res.headers = resp.Header
		if resp.TLS != nil {
			res.tlsVersion = tlsVersionName(resp.TLS.Version)
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		resp.Body.Close()
		if rerr != nil && res.err == "" {
			res.err, res.errCode = rerr.Error(), errorCode(rerr)
		}
		res.body = b
		res.received = int64(len(b)) + headerBytes(resp.Header) + int64(len(resp.Status)+12)
	}
	tr.mu.Lock()
	tr.end = time.Now()
	tr.mu.Unlock()
	v.emitHTTP(&res, &tr, p)
	return v.responseObject(&res, &tr, p)
}

type httpResult struct {
	method, url       string
	status            int
	statusText, proto string
	tlsVersion        string
	headers           http.Header
	body              []byte
	err               string
	errCode           int
	sent, received    int64
	expected          bool
}

func headerBytes(h http.Header) int64 {
	var n int64
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	return n
}

// errorCode is k6's numeric class of a request error.
func errorCode(err error) int {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return 1050
	case errors.As(err, &dnsErr):
		return 1100
	case strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "certificate"):
		return 1300
	case errors.Is(err, syscall.ECONNREFUSED):
		return 1212
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return 1210
	}
	return 1000
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "tls1.3"
	case tls.VersionTLS12:
		return "tls1.2"
	}
	return "tls"
}

// traceTimes are a request's phases, as k6 splits http_req_duration.
// The dial callbacks run on the transport's goroutines (a dial may even
// finish after the request took another connection), hence the lock.
type traceTimes struct {
	mu                        sync.Mutex
	start, end                time.Time
	getConn, gotConn          time.Time
	connectStart, connectDone time.Time
	tlsStart, tlsDone         time.Time
	wroteRequest, firstByte   time.Time
}

func (t *traceTimes) trace() *httptrace.ClientTrace {
	at := func(field *time.Time, dial bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if dial && !t.gotConn.IsZero() {
			return // a dial that finished after the request got a connection
		}
		*field = time.Now()
	}
	return &httptrace.ClientTrace{
		GetConn:              func(string) { at(&t.getConn, false) },
		GotConn:              func(httptrace.GotConnInfo) { at(&t.gotConn, false) },
		ConnectStart:         func(string, string) { at(&t.connectStart, true) },
		ConnectDone:          func(string, string, error) { at(&t.connectDone, true) },
		TLSHandshakeStart:    func() { at(&t.tlsStart, true) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { at(&t.tlsDone, true) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { at(&t.wroteRequest, false) },
		GotFirstResponseByte: func() { at(&t.firstByte, false) },
	}
}

func span(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return msOf(b.Sub(a))
}

// phases returns k6's timings: blocked, connecting, tls_handshaking,
// sending, waiting, receiving and duration (sending + waiting + receiving).
func (t *traceTimes) phases() map[string]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	sending := span(t.gotConn, t.wroteRequest)
	waiting := span(t.wroteRequest, t.firstByte)
	receiving := span(t.firstByte, t.end)
	return map[string]float64{
		"blocked":         max(0, span(t.getConn, t.gotConn)-span(t.connectStart, t.connectDone)-span(t.tlsStart, t.tlsDone)),
		"connecting":      span(t.connectStart, t.connectDone),
		"tls_handshaking": span(t.tlsStart, t.tlsDone),
		"sending":         sending,
		"waiting":         waiting,
		"receiving":       receiving,
		"duration":        sending + waiting + receiving,
	}
}

func (v *VU) emitHTTP(res *httpResult, tr *traceTimes, p requestParams) {
	b := v.test.builtin
	res.expected = res.err == "" && v.test.expected().expected(res.status)
	tags := cloneTags(v.tags)
	name := res.url
	if n, ok := p.tags["name"]; ok {
		name = n
	}
	tags["method"], tags["url"], tags["name"] = res.method, name, name
	tags["status"] = strconv.Itoa(res.status)
	tags["expected_response"] = strconv.FormatBool(res.expected)
	if res.proto != "" {
		tags["proto"] = res.proto
	}
	if res.tlsVersion != "" {
		tags["tls_version"] = res.tlsVersion
	}
	if res.errCode != 0 {
		tags["error_code"] = strconv.Itoa(res.errCode)
		tags["error"] = res.err
	}
	maps.Copy(tags, p.tags)
	now := tr.end
	ph := tr.phases()
	md := v.metadata()
	failed := 1.0
	if res.expected {
		failed = 0
	}
	v.test.emit(
		results.Sample{Metric: b.httpReqs, Time: now, Value: 1, Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqFailed, Time: now, Value: failed, Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqDuration, Time: now, Value: ph["duration"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqBlocked, Time: now, Value: ph["blocked"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqConnecting, Time: now, Value: ph["connecting"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqTLS, Time: now, Value: ph["tls_handshaking"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqSending, Time: now, Value: ph["sending"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqWaiting, Time: now, Value: ph["waiting"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.httpReqReceiving, Time: now, Value: ph["receiving"], Tags: tags, Metadata: md},
		results.Sample{Metric: b.dataSent, Time: now, Value: float64(res.sent), Tags: v.tags, Metadata: md},
		results.Sample{Metric: b.dataReceived, Time: now, Value: float64(res.received), Tags: v.tags, Metadata: md},
	)
}

// responseObject is k6's Response: status, body, headers, timings, error,
// error_code, url, proto and json().
func (v *VU) responseObject(res *httpResult, tr *traceTimes, p requestParams) sobek.Value {
	o := v.rt.NewObject()
	_ = o.Set("status", res.status)
	_ = o.Set("status_text", res.statusText)
	_ = o.Set("url", res.url)
	_ = o.Set("proto", res.proto)
	_ = o.Set("error", res.err)
	_ = o.Set("error_code", res.errCode)
	_ = o.Set("tls_version", res.tlsVersion)
	headers := v.rt.NewObject()
	for k, vs := range res.headers {
		_ = headers.Set(http.CanonicalHeaderKey(k), strings.Join(vs, ", "))
	}
	_ = o.Set("headers", headers)
	switch p.responseType {
	case "none":
		_ = o.Set("body", sobek.Null())
	case "binary":
		_ = o.Set("body", v.rt.NewArrayBuffer(res.body))
	default:
		_ = o.Set("body", string(res.body))
	}
	timings := v.rt.NewObject()
	for k, val := range tr.phases() {
		_ = timings.Set(k, val)
	}
	_ = o.Set("timings", timings)
	body := res.body
	_ = o.Set("json", func(selector ...string) sobek.Value {
		var x any
		if err := json.Unmarshal(body, &x); err != nil {
			panic(v.rt.NewGoError(fmt.Errorf("response of %s is not JSON: %w", res.url, err)))
		}
		if len(selector) > 0 && selector[0] != "" {
			x = jsonPath(x, selector[0])
		}
		return v.rt.ToValue(x)
	})
	return o
}

// jsonPath follows a dotted selector ("a.b.0.c") into decoded JSON; it is
// the simple form of k6's gjson selectors.
func jsonPath(x any, sel string) any {
	for part := range strings.SplitSeq(sel, ".") {
		switch c := x.(type) {
		case map[string]any:
			x = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			x = c[i]
		default:
			return nil
		}
	}
	return x
}

package results

import (
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jsonFlushPeriod is how much sample time k6's JSON output buffers.
const jsonFlushPeriod = 200 * time.Millisecond

// jsonFlushBytes bounds the buffer between flushes.
const jsonFlushBytes = 256 << 10

// JSONOutput writes samples as k6's --out json does: one JSON object a
// line, a Metric record before each metric's first Point. The JSON is
// written by hand because encoding/json reflection costs several times
// more per sample; the bytes are what encoding/json would write.
type JSONOutput struct {
	w       io.Writer
	closeFn func() error
	loc     *time.Location
	buf     []byte
	seen    map[string]bool
	keys    []string // scratch for sorting a map's keys
	tagJSON map[uintptr]encodedTags
	flushed time.Time
	dropped int
	err     error
}

var _ Output = (*JSONOutput)(nil)

// NewJSONOutput returns a JSON output writing to w; Close flushes but does
// not close w.
func NewJSONOutput(w io.Writer, opt OutputOptions) *JSONOutput {
	loc := opt.Location
	if loc == nil {
		loc = time.Local
	}
	return &JSONOutput{w: w, loc: loc, seen: map[string]bool{}, buf: make([]byte, 0, 64<<10),
		tagJSON: map[uintptr]encodedTags{}}
}

// AddSamples encodes a batch and writes the buffer when 200 ms of sample
// time have passed since the last write. A sample whose value JSON cannot
// hold (NaN, ±Inf) is skipped, as k6 skips it; Dropped counts them. An
// empty batch writes what is buffered.
func (o *JSONOutput) AddSamples(batch []Sample) error {
	if len(batch) == 0 {
		o.flush()
		return o.err
	}
	for i := range batch {
		s := &batch[i]
		if s.Metric == nil {
			continue
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			o.dropped++
			continue
		}
		if !o.seen[s.Metric.Name] {
			o.seen[s.Metric.Name] = true
			o.buf = o.appendMetric(o.buf, s.Metric)
		}
		o.buf = o.appendPoint(o.buf, s)
		if o.flushed.IsZero() {
			o.flushed = s.Time
		}
		if s.Time.Sub(o.flushed) >= jsonFlushPeriod || len(o.buf) >= jsonFlushBytes {
			o.flush()
			o.flushed = s.Time
		}
	}
	return o.err
}

// Dropped is how many samples were skipped for a NaN or infinite value.
func (o *JSONOutput) Dropped() int { return o.dropped }

// Close writes what is buffered and closes the file OpenOutput opened.
func (o *JSONOutput) Close() error {
	o.flush()
	if o.closeFn != nil {
		if err := o.closeFn(); err != nil && o.err == nil {
			o.err = err
		}
		o.closeFn = nil
	}
	return o.err
}

func (o *JSONOutput) flush() {
	if len(o.buf) == 0 || o.err != nil {
		o.buf = o.buf[:0]
		return
	}
	_, o.err = o.w.Write(o.buf)
	o.buf = o.buf[:0]
}

// appendMetric writes the Metric record: type, data, metric in that order.
func (o *JSONOutput) appendMetric(b []byte, m *Metric) []byte {
	b = append(b, `{"type":"Metric","data":{"name":`...)
	b = appendJSONString(b, m.Name)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, m.Type.String())
	b = append(b, `,"contains":`...)
	b = appendJSONString(b, m.Contains.String())
	b = append(b, `,"thresholds":[`...)
	for i, t := range m.Thresholds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendThresholdJSON(b, t)
	}
	b = append(b, `],"submetrics":`...)
	if len(m.Submetrics) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, sm := range m.Submetrics {
			if i > 0 {
				b = append(b, ',')
			}
			suffix := submetricSuffix(sm.Name)
			b = append(b, `{"name":`...)
			b = appendJSONString(b, submetricName(m.Name, sm))
			b = append(b, `,"suffix":`...)
			b = appendJSONString(b, suffix)
			b = append(b, `,"tags":`...)
			b = o.appendStringMap(b, sm.Selector.Tags, true)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `},"metric":`...)
	b = appendJSONString(b, m.Name)
	return append(b, "}\n"...)
}

// appendThresholdJSON writes a threshold as k6 does: its expression, or
// the object form when it aborts the run.
func appendThresholdJSON(b []byte, t Threshold) []byte {
	if !t.AbortOnFail {
		return appendJSONString(b, t.Source)
	}
	b = append(b, `{"threshold":`...)
	b = appendJSONString(b, t.Source)
	b = append(b, `,"abortOnFail":true,"delayAbortEval":`...)
	if t.DelayAbortEval == 0 {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, t.DelayAbortEval.String())
	}
	return append(b, '}')
}

// submetricSuffix is the selector part of a sub-metric key, trimmed as k6
// trims it: `m{ a:b }` gives "a:b".
func submetricSuffix(key string) string {
	_, inner, ok := strings.Cut(key, "{")
	if !ok {
		return ""
	}
	return strings.TrimSpace(strings.TrimSuffix(inner, "}"))
}

// submetricName is the name k6 gives a sub-metric: its parent's name and
// the trimmed selector, e.g. "http_req_duration{expected_response:true}".
func submetricName(parent string, sm Submetric) string {
	return parent + "{" + submetricSuffix(sm.Name) + "}"
}

// appendPoint writes a Point record: metric, type, data{time, value, tags,
// metadata (left out when empty)}.
func (o *JSONOutput) appendPoint(b []byte, s *Sample) []byte {
	b = append(b, `{"metric":`...)
	b = appendJSONString(b, s.Metric.Name)
	b = append(b, `,"type":"Point","data":{"time":"`...)
	b = s.Time.In(o.loc).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","value":`...)
	b = appendJSONFloat(b, s.Value)
	b = append(b, `,"tags":`...)
	b = o.appendTags(b, s.Tags)
	if len(s.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = o.appendStringMap(b, s.Metadata, false)
	}
	return append(b, "}}\n"...)
}

// tagCacheSize bounds the encoded tag sets kept; a run's series usually
// share a few tag maps, so most samples hit.
const tagCacheSize = 1024

// encodedTags is a tag map and its JSON. Holding the map keeps its address
// from being reused by another map while the entry lives.
type encodedTags struct {
	tags map[string]string
	json []byte
}

// appendTags writes a sample's tags, reusing the encoding of a map seen
// before: tag maps are never changed once a sample carries them.
func (o *JSONOutput) appendTags(b []byte, tags map[string]string) []byte {
	if tags == nil {
		return append(b, "null"...)
	}
	key := reflect.ValueOf(tags).Pointer()
	if e, ok := o.tagJSON[key]; ok {
		return append(b, e.json...)
	}
	start := len(b)
	b = o.appendStringMap(b, tags, false)
	if len(o.tagJSON) >= tagCacheSize {
		clear(o.tagJSON)
	}
	o.tagJSON[key] = encodedTags{tags: tags, json: slices.Clone(b[start:])}
	return b
}

// appendStringMap writes a map as an object with sorted keys, or null
// when nilAsNull and the map is nil.
func (o *JSONOutput) appendStringMap(b []byte, m map[string]string, nilAsNull bool) []byte {
	if m == nil && nilAsNull {
		return append(b, "null"...)
	}
	o.keys = o.keys[:0]
	for k := range m {
		o.keys = append(o.keys, k)
	}
	slices.Sort(o.keys)
	b = append(b, '{')
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendJSONFloat formats a finite float as encoding/json does: plain
// decimals, exponent form below 1e-6 and from 1e21, shortest round trip.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as JavaScript and encoding/json write it.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping off
// (k6's setting): short escapes for \b \f \n \r \t, \u00XX for other
// control bytes, \u2028 and \u2029 escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

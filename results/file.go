package results

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// FileSchema names the results file format; ReadFile accepts only it.
const FileSchema = "camstorm.results/v1"

// MaxFileBytes caps what ReadFile reads.
const MaxFileBytes = 1 << 30

// maxFileErrors caps how many problems one file reports.
const maxFileErrors = 20

// ErrFile marks a results file that cannot be read, loaded or merged.
var ErrFile = errors.New("invalid results file")

// File is what a run (or one shard of it) leaves behind: enough to judge
// thresholds and print the summary again, and to merge shards exactly.
type File struct {
	Schema     string                     `json:"schema"`
	Run        RunInfo                    `json:"run"`
	Metrics    []FileMetric               `json:"metrics"`
	Thresholds map[string][]ThresholdSpec `json:"thresholds,omitempty"`
	Series     []FileSeries               `json:"series"`
	Checks     *Group                     `json:"checks,omitempty"`
	// Cameras are the cameras that fared worst (at most MaxWorstCameras).
	Cameras []CameraSummary `json:"cameras,omitempty"`
}

// RunInfo describes the run that wrote a file.
type RunInfo struct {
	Script  string `json:"script"`
	Version string `json:"version"`
	Seed    int64  `json:"seed"`
	// Segment is the k6 execution segment the file covers ("1/4:2/4"); a
	// merged file lists its pieces comma-separated. "" means unknown.
	Segment string `json:"segment,omitempty"`
	// Sequence is the k6 execution segment sequence shared by all shards.
	Sequence string            `json:"sequence,omitempty"`
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Target is what the run drove; Machine where it ran (see Machine).
	Target  string `json:"target,omitempty"`
	Machine string `json:"machine,omitempty"`
}

// FileMetric is a metric's definition.
type FileMetric struct {
	Name     string `json:"name"`
	Type     string `json:"type"`     // counter, gauge, rate, trend
	Contains string `json:"contains"` // default, time, data
}

// FileSeries is one series' state; exactly the field of its metric's type
// is set.
type FileSeries struct {
	Metric  string            `json:"metric"`
	Tags    map[string]string `json:"tags,omitempty"`
	Counter *CounterSink      `json:"counter,omitempty"`
	Gauge   *GaugeSink        `json:"gauge,omitempty"`
	Rate    *RateSink         `json:"rate,omitempty"`
	Trend   *TrendState       `json:"trend,omitempty"`
	// Timeline is the series over time, when the run kept timelines.
	Timeline *Timeline `json:"timeline,omitempty"`
}

// TrendState is a TrendSink as stored: its exact statistics and its
// histograms in HdrHistogram's V2 compressed encoding (base64).
type TrendState struct {
	Samples   int64   `json:"samples"`
	Sum       float64 `json:"sum"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Zeros     int64   `json:"zeros"`
	Saturated int64   `json:"saturated"`
	Positive  string  `json:"positive,omitempty"`
	Negative  string  `json:"negative,omitempty"`
	// Exact holds every sample of a small Trend (at most ExactSamples), so
	// merged short runs keep k6's exact percentiles.
	Exact []float64 `json:"exact,omitempty"`
}

// NewFile captures a run's state. reg may be nil (the store's metrics are
// used), as may th and c.
func NewFile(run RunInfo, reg *Registry, s *Store, th *Thresholds, c *Checks) *File {
	f := &File{Schema: FileSchema, Run: run, Series: []FileSeries{}, Metrics: []FileMetric{}}
	seen := map[string]bool{}
	addMetric := func(m *Metric) {
		if !seen[m.Name] {
			seen[m.Name] = true
			f.Metrics = append(f.Metrics, FileMetric{Name: m.Name, Type: m.Type.String(), Contains: m.Contains.String()})
		}
	}
	if reg != nil {
		for _, m := range reg.All() {
			addMetric(m)
		}
	}
	if s != nil {
		for _, ss := range s.Series() {
			addMetric(ss.Metric)
			fs := fileSeries(ss.Metric.Name, ss.Tags, ss.Sink)
			fs.Timeline = ss.Timeline
			f.Series = append(f.Series, fs)
		}
	}
	if th != nil {
		f.Thresholds = th.Specs()
	}
	if c != nil {
		f.Checks = c.Root()
	}
	return f
}

func fileSeries(metric string, tags map[string]string, sink Sink) FileSeries {
	fs := FileSeries{Metric: metric, Tags: tags}
	switch k := sink.(type) {
	case *CounterSink:
		fs.Counter = k
	case *GaugeSink:
		fs.Gauge = k
	case *RateSink:
		fs.Rate = k
	case *TrendSink:
		// Encoding into memory cannot fail.
		pos, _ := encodeHistogram(k.pos)
		neg, _ := encodeHistogram(k.neg)
		fs.Trend = &TrendState{Samples: k.Samples, Sum: k.Sum, Min: k.Min, Max: k.Max,
			Zeros: k.Zeros, Saturated: k.Saturated, Positive: pos, Negative: neg, Exact: k.Exact()}
	}
	return fs
}

// name identifies a series in errors.
func (fs FileSeries) name() string {
	if len(fs.Tags) == 0 {
		return fmt.Sprintf("series %s", fs.Metric)
	}
	return fmt.Sprintf("series %s{%s}", fs.Metric, SeriesKey(fs.Tags))
}

// WriteFile writes f as indented JSON.
func WriteFile(w io.Writer, f *File) error {
	for _, fs := range f.Series {
		for _, v := range fs.floats() {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: %s holds %v, which JSON cannot carry", ErrFile, fs.name(), v)
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

func (fs FileSeries) floats() []float64 {
	switch {
	case fs.Counter != nil:
		return []float64{fs.Counter.Sum}
	case fs.Gauge != nil:
		return []float64{fs.Gauge.Last, fs.Gauge.Min, fs.Gauge.Max}
	case fs.Trend != nil:
		return []float64{fs.Trend.Sum, fs.Trend.Min, fs.Trend.Max}
	}
	return nil
}

// ReadFile reads and checks a results file: at most MaxFileBytes, the
// current schema, no unknown fields, every metric, series, histogram,
// threshold and check valid. Problems name the series.
func ReadFile(r io.Reader) (*File, error) {
	lr := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrFile, MaxFileBytes)
		}
		return nil, fmt.Errorf("%w: %v", ErrFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the results object", ErrFile)
	}
	if len(f.Cameras) > MaxWorstCameras {
		return nil, fmt.Errorf("%w: %d camera summaries (at most %d)", ErrFile, len(f.Cameras), MaxWorstCameras)
	}
	if _, _, _, _, err := f.load(false); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load rebuilds the run's registry, store, thresholds (parsed again from
// the specs) and checks, for evaluation and the summary.
func (f *File) Load() (*Registry, *Store, *Thresholds, *Checks, error) {
	return f.load(true)
}

// load checks f and, when build is set, rebuilds its state.
func (f *File) load(build bool) (*Registry, *Store, *Thresholds, *Checks, error) {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < maxFileErrors {
			errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrFile}, args...)...))
		}
	}
	if f.Schema != FileSchema {
		fail("schema %q, want %q", f.Schema, FileSchema)
		return nil, nil, nil, nil, errors.Join(errs...)
	}
	reg := NewRegistry()
	for _, fm := range f.Metrics {
		t, c, err := parseFileMetric(fm)
		if err == nil {
			_, err = reg.Define(fm.Name, t, c)
		}
		if err != nil {
			fail("metric %q: %v", fm.Name, err)
		}
	}
	var store *Store
	if build {
		store = NewStore()
	}
	keys := map[string]bool{}
	for _, fs := range f.Series {
		m := reg.Get(fs.Metric)
		if m == nil {
			fail("%s: metric %q is not defined in the file", fs.name(), fs.Metric)
			continue
		}
		key := fs.Metric + "\x00" + SeriesKey(fs.Tags)
		if keys[key] {
			fail("%s appears twice", fs.name())
			continue
		}
		keys[key] = true
		sink, err := fs.sink(m.Type, build)
		if err != nil {
			fail("%s: %v", fs.name(), err)
			continue
		}
		if fs.Timeline != nil {
			if err := fs.Timeline.check(); err != nil {
				fail("%s: %v", fs.name(), err)
				continue
			}
		}
		if build {
			if err := store.addSink(m, fs.Tags, sink, fs.Timeline); err != nil {
				fail("%s: %v", fs.name(), err)
			}
		}
	}
	checks := NewChecks()
	if err := checkGroup(f.Checks, 0); err != nil {
		fail("checks: %v", err)
	} else if build {
		checks.MergeGroup(f.Checks)
	}
	if len(errs) > 0 {
		return nil, nil, nil, nil, errors.Join(errs...)
	}
	th, err := NewThresholds(f.Thresholds, reg)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: thresholds: %w", ErrFile, err)
	}
	return reg, store, th, checks, nil
}

func parseFileMetric(fm FileMetric) (MetricType, Contains, error) {
	var t MetricType
	for _, c := range []MetricType{Counter, Gauge, Rate, Trend} {
		if fm.Type == c.String() {
			t = c
		}
	}
	if t == 0 {
		return 0, 0, fmt.Errorf("unknown type %q; want counter, gauge, rate or trend", fm.Type)
	}
	for _, c := range []Contains{Default, Time, Data} {
		if fm.Contains == c.String() {
			return t, c, nil
		}
	}
	return 0, 0, fmt.Errorf("unknown contains %q; want default, time or data", fm.Contains)
}

// sink checks the series state against its metric type and returns it as
// a Sink (histograms decoded only when build is set).
func (fs FileSeries) sink(t MetricType, build bool) (Sink, error) {
	set := 0
	for _, p := range []bool{fs.Counter != nil, fs.Gauge != nil, fs.Rate != nil, fs.Trend != nil} {
		if p {
			set++
		}
	}
	var got Sink
	switch {
	case set != 1:
		return nil, fmt.Errorf("want exactly one of counter, gauge, rate, trend; has %d", set)
	case fs.Counter != nil:
		if fs.Counter.Samples < 0 {
			return nil, fmt.Errorf("negative sample count %d", fs.Counter.Samples)
		}
		got = fs.Counter.Clone()
	case fs.Gauge != nil:
		g := fs.Gauge
		if g.Samples < 0 || (g.Samples > 0 && !(g.Min <= g.Last && g.Last <= g.Max)) {
			return nil, fmt.Errorf("gauge state %d samples, last %v, min %v, max %v is inconsistent", g.Samples, g.Last, g.Min, g.Max)
		}
		got = g.Clone()
	case fs.Rate != nil:
		if fs.Rate.Passes < 0 || fs.Rate.Fails < 0 || fs.Rate.Passes > math.MaxInt64-fs.Rate.Fails {
			return nil, fmt.Errorf("rate passes %d, fails %d are out of range", fs.Rate.Passes, fs.Rate.Fails)
		}
		got = fs.Rate.Clone()
	default:
		ts, err := fs.Trend.sink(build)
		if err != nil {
			return nil, err
		}
		got = ts
	}
	if got.Type() != t {
		return nil, fmt.Errorf("holds %s state but the metric is a %s", got.Type(), t)
	}
	return got, nil
}

func (ts *TrendState) sink(build bool) (*TrendSink, error) {
	pos, np, err := decodeHistogram(ts.Positive, build)
	if err != nil {
		return nil, fmt.Errorf("positive %w", err)
	}
	neg, nn, err := decodeHistogram(ts.Negative, build)
	if err != nil {
		return nil, fmt.Errorf("negative %w", err)
	}
	switch {
	case ts.Zeros < 0 || ts.Saturated < 0 || ts.Samples < 0:
		return nil, fmt.Errorf("negative counts (samples %d, zeros %d, saturated %d)", ts.Samples, ts.Zeros, ts.Saturated)
	case np > math.MaxInt64-nn || np+nn > math.MaxInt64-ts.Zeros || np+nn+ts.Zeros != ts.Samples:
		return nil, fmt.Errorf("%d samples but the histograms hold %d and zeros %d", ts.Samples, np+nn, ts.Zeros)
	case ts.Saturated > np+nn:
		return nil, fmt.Errorf("%d saturated samples but the histograms hold %d", ts.Saturated, np+nn)
	case ts.Samples > 0 && !(ts.Min <= ts.Max):
		return nil, fmt.Errorf("min %v is above max %v", ts.Min, ts.Max)
	case ts.Samples == 0 && (ts.Sum != 0 || ts.Min != 0 || ts.Max != 0):
		return nil, fmt.Errorf("no samples but sum %v, min %v, max %v", ts.Sum, ts.Min, ts.Max)
	}
	if n := int64(len(ts.Exact)); n != 0 && (n != ts.Samples || n > ExactSamples) {
		return nil, fmt.Errorf("%d exact samples for %d samples (want all of them, at most %d)", n, ts.Samples, ExactSamples)
	}
	for _, v := range ts.Exact {
		if v < ts.Min || v > ts.Max {
			return nil, fmt.Errorf("exact sample %v outside min %v and max %v", v, ts.Min, ts.Max)
		}
	}
	return &TrendSink{Samples: ts.Samples, Sum: ts.Sum, Min: ts.Min, Max: ts.Max,
		Zeros: ts.Zeros, Saturated: ts.Saturated, pos: pos, neg: neg, exact: slices.Clone(ts.Exact)}, nil
}

// checkGroup rejects what would break group paths or counts.
func checkGroup(g *Group, depth int) error {
	if g == nil {
		return nil
	}
	if depth > 100 {
		return fmt.Errorf("groups nested more than 100 deep")
	}
	if depth > 0 && (g.Name == "" || strings.Contains(g.Name, groupSep)) {
		return fmt.Errorf("group name %q: want a non-empty name without %q", g.Name, groupSep)
	}
	for _, ch := range g.Checks {
		if ch == nil || ch.Passes < 0 || ch.Fails < 0 {
			return fmt.Errorf("group %q: a check is missing or has negative counts", g.Path)
		}
	}
	for _, sub := range g.Groups {
		if sub == nil {
			return fmt.Errorf("group %q: a subgroup is missing", g.Path)
		}
		if err := checkGroup(sub, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// addSink merges a series state (and its timeline, if any) into the store.
func (s *Store) addSink(m *Metric, tags map[string]string, sink Sink, tl *Timeline) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var warn []int
	ser, ok := s.seriesLocked(m, SeriesKey(tags), tags, &warn)
	if !ok {
		return fmt.Errorf("%w: %q is already held with another type", ErrMetric, m.Name)
	}
	if tl != nil {
		if ser.timeline == nil {
			ser.timeline = &Timeline{}
		}
		ser.timeline.Merge(tl)
	}
	return ser.sink.Merge(sink)
}

// MergeFiles merges shard files into one: metrics must agree on type,
// equal series merge exactly, Start is the earliest and End the latest,
// thresholds and segment sequences must be identical, and two files whose
// (non-whole) segments overlap are an error, as their samples would count
// twice. Files without segment info merge freely. Run details other than
// times, segments and tags are the first file's.
func MergeFiles(files ...*File) (*File, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no files to merge", ErrFile)
	}
	reg, store, checks := NewRegistry(), NewStore(), NewChecks()
	var (
		errs    []error
		pieces  []segmentPiece
		unknown bool
	)
	run := files[0].Run
	run.Tags = maps.Clone(run.Tags)
	for i, f := range files {
		if f == nil {
			return nil, fmt.Errorf("%w: file %d is nil", ErrFile, i+1)
		}
		freg, fstore, _, fchecks, err := f.Load()
		if err != nil {
			errs = append(errs, fmt.Errorf("file %d: %w", i+1, err))
			continue
		}
		if !reflect.DeepEqual(normSpecs(f.Thresholds), normSpecs(files[0].Thresholds)) {
			errs = append(errs, fmt.Errorf("%w: file %d has other thresholds than file 1", ErrFile, i+1))
		}
		if f.Run.Sequence != "" {
			if run.Sequence == "" {
				run.Sequence = f.Run.Sequence
			} else if f.Run.Sequence != run.Sequence {
				errs = append(errs, fmt.Errorf("%w: file %d has segment sequence %q, another file %q", ErrFile, i+1, f.Run.Sequence, run.Sequence))
			}
		}
		ivs, err := parseSegments(f.Run.Segment)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: file %d: %v", ErrFile, i+1, err))
		}
		if ivs == nil {
			unknown = true
		}
		for _, iv := range ivs {
			for _, p := range pieces {
				if iv.overlaps(p.segment) {
					errs = append(errs, fmt.Errorf("%w: file %d (segment %s) overlaps file %d (segment %s): its samples would count twice",
						ErrFile, i+1, iv, p.file, p.segment))
				}
			}
			pieces = append(pieces, segmentPiece{file: i + 1, segment: iv})
		}
		if run.Start.IsZero() || (!f.Run.Start.IsZero() && f.Run.Start.Before(run.Start)) {
			run.Start = f.Run.Start
		}
		if f.Run.End.After(run.End) {
			run.End = f.Run.End
		}
		for k, v := range f.Run.Tags {
			if _, ok := run.Tags[k]; !ok {
				if run.Tags == nil {
					run.Tags = map[string]string{}
				}
				run.Tags[k] = v
			}
		}
		for _, m := range freg.All() {
			if _, err := reg.Define(m.Name, m.Type, m.Contains); err != nil {
				errs = append(errs, fmt.Errorf("%w: file %d: %w", ErrFile, i+1, err))
			}
		}
		if err := store.Merge(fstore); err != nil {
			errs = append(errs, fmt.Errorf("%w: file %d: %w", ErrFile, i+1, err))
		}
		checks.MergeGroup(fchecks.Root())
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	run.Segment = ""
	if !unknown {
		run.Segment = joinSegments(pieces)
	}
	th, err := NewThresholds(files[0].Thresholds, reg)
	if err != nil {
		return nil, fmt.Errorf("%w: thresholds: %w", ErrFile, err)
	}
	merged := NewFile(run, reg, store, th, checks)
	var cams []CameraSummary
	for _, f := range files {
		cams = append(cams, f.Cameras...)
	}
	merged.Cameras = WorstCameras(cams, MaxWorstCameras)
	return merged, nil
}

func normSpecs(m map[string][]ThresholdSpec) map[string][]ThresholdSpec {
	out := map[string][]ThresholdSpec{}
	for k, v := range m {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// segment is a k6 execution segment (from, to] of the whole test.
type segment struct{ from, to *big.Rat }

type segmentPiece struct {
	file    int
	segment segment
}

func (s segment) String() string { return s.from.RatString() + ":" + s.to.RatString() }

func (s segment) overlaps(o segment) bool {
	return s.from.Cmp(o.to) < 0 && o.from.Cmp(s.to) < 0
}

// parseSegments parses a Segment field: comma-separated k6 segments
// "a:b" or "b" (meaning 0:b) whose ends are fractions, decimals or
// percentages. "" is a run that was not sharded: the whole test, 0:1, so
// merging it with anything else would count load twice.
func parseSegments(s string) ([]segment, error) {
	if strings.TrimSpace(s) == "" {
		return []segment{{new(big.Rat), big.NewRat(1, 1)}}, nil
	}
	var out []segment
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(part, ":")
		if !ok {
			from, to = "0", part
		}
		a, errA := parseSegmentEnd(from)
		b, errB := parseSegmentEnd(to)
		if errA != nil || errB != nil || a.Cmp(b) >= 0 {
			return nil, fmt.Errorf("segment %q: want from:to with 0 ≤ from < to ≤ 1, e.g. 1/4:2/4", part)
		}
		out = append(out, segment{a, b})
	}
	return out, nil
}

func parseSegmentEnd(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	s = strings.TrimSuffix(s, "%")
	if len(s) > 40 {
		return nil, errors.New("too long")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errors.New("not a number")
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(1, 1)) > 0 {
		return nil, errors.New("out of 0..1")
	}
	return r, nil
}

// joinSegments writes the union of pieces, adjacent ones coalesced.
func joinSegments(pieces []segmentPiece) string {
	segs := make([]segment, len(pieces))
	for i, p := range pieces {
		segs[i] = p.segment
	}
	slices.SortFunc(segs, func(a, b segment) int { return a.from.Cmp(b.from) })
	var out []segment
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].to.Cmp(s.from) == 0 {
			out[n-1].to = s.to
			continue
		}
		out = append(out, s)
	}
	parts := make([]string, len(out))
	for i, s := range out {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// Trend histograms travel in HdrHistogram's V2 compressed encoding
// (base64 text), written with the library's Encode. They are read back
// with the strict decoder below rather than the library's Decode, which
// indexes its input unchecked and would panic or allocate without bound
// on a damaged file.

const (
	// maxHistogramText caps one encoded histogram; a full one at our
	// layout is under 320 KiB of base64.
	maxHistogramText = 1 << 20
	// hdrHeaderSize is the V2 header before the counts payload.
	hdrHeaderSize = 40
	// hdrCookieMask clears the word-size nibble of a V2 cookie.
	hdrCookieMask = 0xf0
)

// trendCountsLen is the number of counters in a trend histogram.
var trendCountsLen = sync.OnceValue(func() int { return len(newTrendHistogram().Export().Counts) })

// maxHistogramPayload caps a decompressed payload: every counter as the
// longest (9-byte) LEB128 value.
func maxHistogramPayload() int { return hdrHeaderSize + 9*trendCountsLen() }

// encodeHistogram returns the V2 compressed base64 text of h, "" for nil
// or empty.
func encodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	if h == nil || h.TotalCount() == 0 {
		return "", nil
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// decodeHistogram checks text and returns its total count and, when build
// is set, the histogram. Only our layout (1..1e10, 3 digits) is accepted.
func decodeHistogram(text string, build bool) (*hdrhistogram.Histogram, int64, error) {
	if text == "" {
		return nil, 0, nil
	}
	if len(text) > maxHistogramText {
		return nil, 0, fmt.Errorf("histogram text is %d bytes, more than %d", len(text), maxHistogramText)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, 0, fmt.Errorf("histogram is not base64: %w", err)
	}
	if len(raw) < 8 {
		return nil, 0, fmt.Errorf("histogram is %d bytes, too short for a header", len(raw))
	}
	if c := int32(binary.BigEndian.Uint32(raw)) &^ hdrCookieMask; c != hdrhistogram.V2CompressedEncodingCookieBase {
		return nil, 0, fmt.Errorf("histogram cookie %#x is not HdrHistogram V2 compressed", c)
	}
	n := int64(int32(binary.BigEndian.Uint32(raw[4:])))
	if n < 0 || n > int64(len(raw)-8) {
		return nil, 0, fmt.Errorf("histogram claims %d compressed bytes, has %d", n, len(raw)-8)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw[8 : 8+n]))
	if err != nil {
		return nil, 0, fmt.Errorf("histogram: %w", err)
	}
	limit := maxHistogramPayload()
	body, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, 0, fmt.Errorf("histogram: %w", err)
	}
	if len(body) > limit {
		return nil, 0, fmt.Errorf("histogram inflates past %d bytes", limit)
	}
	if len(body) < hdrHeaderSize {
		return nil, 0, fmt.Errorf("histogram header is %d bytes, want %d", len(body), hdrHeaderSize)
	}
	be := binary.BigEndian
	if c := int32(be.Uint32(body)) &^ hdrCookieMask; c != hdrhistogram.V2EncodingCookieBase {
		return nil, 0, fmt.Errorf("histogram inner cookie %#x is not HdrHistogram V2", c)
	}
	if p := int64(int32(be.Uint32(body[4:]))); p != int64(len(body)-hdrHeaderSize) {
		return nil, 0, fmt.Errorf("histogram payload is %d bytes, header says %d", len(body)-hdrHeaderSize, p)
	}
	digits, lowest, highest := int32(be.Uint32(body[12:])), int64(be.Uint64(body[16:])), int64(be.Uint64(body[24:]))
	if digits != trendDigits || lowest != 1 || highest != trendHighest {
		return nil, 0, fmt.Errorf("histogram layout %d..%d at %d digits, want 1..%d at %d", lowest, highest, digits, trendHighest, trendDigits)
	}
	var counts []int64
	if build {
		counts = make([]int64, trendCountsLen())
	}
	total, err := walkCounts(body[hdrHeaderSize:], counts)
	if err != nil {
		return nil, 0, err
	}
	if !build {
		return nil, total, nil
	}
	h := hdrhistogram.Import(&hdrhistogram.Snapshot{
		LowestTrackableValue: 1, HighestTrackableValue: trendHighest, SignificantFigures: trendDigits, Counts: counts,
	})
	return h, total, nil
}

// walkCounts reads the ZigZag LEB128 counts (a negative number is a run of
// zero counters), checking every index and the total, into counts when
// it is not nil.
func walkCounts(payload []byte, counts []int64) (int64, error) {
	size := int64(trendCountsLen())
	var idx, total int64
	for pos := 0; pos < len(payload); {
		v, n := readZigZag(payload[pos:])
		if n == 0 {
			return 0, fmt.Errorf("histogram counts truncated at byte %d", pos)
		}
		pos += n
		if v < 0 {
			if v == math.MinInt64 || idx > size+v {
				return 0, fmt.Errorf("histogram zero run of %d passes its %d counters", -v, size)
			}
			idx -= v
			continue
		}
		if idx >= size {
			return 0, fmt.Errorf("histogram has more than %d counters", size)
		}
		if total > math.MaxInt64-v {
			return 0, fmt.Errorf("histogram total count overflows")
		}
		total += v
		if counts != nil {
			counts[idx] = v
		}
		idx++
	}
	return total, nil
}

// readZigZag decodes one ZigZag LEB128 value of at most 9 bytes (the
// ninth carries 8 bits); n is 0 when b is truncated.
func readZigZag(b []byte) (v int64, n int) {
	var u uint64
	for i := range 9 {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			u |= uint64(b[i]) << 56
			n = 9
			break
		}
		u |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			n = i + 1
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), n
}

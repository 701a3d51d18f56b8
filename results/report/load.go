package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camstorm/camstorm/results"
)

// ErrInput marks a file Load cannot read or does not recognise.
var ErrInput = errors.New("report input")

// Kinds of file Load recognises by their content.
const (
	FileResults = "camstorm results file (" + results.FileSchema + ")"
	FileNDJSON  = "k6 NDJSON"
	FileCSV     = "k6 CSV"
	FileReport  = "camstorm report (" + SchemaVersion + ")"
)

// Format is a kind of JSON document another package knows how to turn into
// a Run (a fleet report, a conformance report): results cannot import its
// producers, so they hand their formats to LoadWith.
type Format struct {
	Name string
	// Detect sees the document's "schema" field ("" if none) and its
	// top-level keys.
	Detect func(schema string, keys map[string]bool) bool
	// Decode reads the whole document (use DecodeDocument: it is bounded).
	Decode func(r io.Reader) (*Run, error)
}

// Bounds on what Load reads.
const (
	// MaxLineBytes caps one NDJSON or CSV line; longer lines are skipped.
	MaxLineBytes = 1 << 20
	// MaxDocumentBytes caps a fleet or conformance report.
	MaxDocumentBytes = 256 << 20
	// MaxReplaySeries caps the distinct series replayed from NDJSON and
	// CSV; samples of further tag sets are refused and counted.
	MaxReplaySeries = 100_000
	// peekBytes is how much of a file detection looks at.
	peekBytes = 64 << 10
)

// expected names every kind, for errors.
const expected = "want a camstorm results file, k6 NDJSON or CSV (optionally gzipped), a fleet --json report, a conformance --json report or a capacity --json report"

// formatKind marks a document one of the given Formats recognised.
const formatKind = "format:"

// Load reads every file and returns the runs they describe. Each file's
// kind is detected from its content. Results files given together are the
// shards of one run and are merged; NDJSON and CSV files given together are
// likewise replayed into one run; each fleet or conformance report is a
// run of its own. Runs come in the order their first file was given.
func Load(paths ...string) ([]*Run, error) { return LoadWith(nil, paths...) }

// LoadWith is Load that also reads the documents formats recognise, each as
// a run of its own.
func LoadWith(formats []Format, paths ...string) ([]*Run, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no files given; %s", ErrInput, expected)
	}
	var (
		runs    []*Run
		resFile []*results.File
		resSrc  []string
		resAt   = -1
		rep     *replay
		repAt   = -1
	)
	for _, p := range paths {
		err := func() error {
			r, closeFn, err := open(p)
			if err != nil {
				return err
			}
			defer closeFn()
			kind, format, err := detect(r, formats)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if format != nil {
				run, err := format.Decode(r)
				if err != nil {
					return fmt.Errorf("%s: reading it as a %s: %w", p, format.Name, err)
				}
				run.Meta.Sources = []string{p}
				runs = append(runs, run)
				return nil
			}
			switch kind {
			case FileReport:
				// A report written as JSON (camstorm capacity --json): a Run.
				var run Run
				if err := DecodeDocument(r, &run); err != nil {
					return fmt.Errorf("%s: reading it as a %s: %w", p, kind, err)
				}
				run.Meta.Sources = append(run.Meta.Sources, p)
				runs = append(runs, &run)
			case FileResults:
				f, err := results.ReadFile(r)
				if err != nil {
					return fmt.Errorf("%s: reading it as a %s: %w", p, kind, err)
				}
				if resAt < 0 {
					resAt = len(runs)
					runs = append(runs, nil)
				}
				resFile, resSrc = append(resFile, f), append(resSrc, p)
			case FileNDJSON, FileCSV:
				if rep == nil {
					rep = newReplay()
					repAt = len(runs)
					runs = append(runs, nil)
				}
				if kind == FileNDJSON {
					err = rep.ndjson(r)
				} else {
					err = rep.csv(r)
				}
				if err != nil {
					return fmt.Errorf("%s: reading it as %s: %w", p, kind, err)
				}
				rep.sources = append(rep.sources, p)
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	if resAt >= 0 {
		run, err := fromFiles(resFile, resSrc)
		if err != nil {
			return nil, err
		}
		runs[resAt] = run
	}
	if repAt >= 0 {
		runs[repAt] = rep.run()
	}
	return runs, nil
}

// open opens a file, decompressing it when it starts with gzip's magic.
func open(path string) (*bufio.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	br := bufio.NewReaderSize(f, peekBytes)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			_ = f.Close()
			return nil, nil, fmt.Errorf("%w: %s: starts like gzip but is not: %w", ErrInput, path, err)
		}
		return bufio.NewReaderSize(zr, peekBytes), func() { _ = zr.Close(); _ = f.Close() }, nil
	}
	return br, func() { _ = f.Close() }, nil
}

// detect names the kind of input r holds from its first bytes, leaving
// them unread.
func detect(r *bufio.Reader, formats []Format) (string, *Format, error) {
	head, err := r.Peek(peekBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	kind := detectKind(head)
	if kind == "" {
		strs, keys := topKeys(head)
		for i := range formats {
			if formats[i].Detect(strs["schema"], keys) {
				return formatKind + formats[i].Name, &formats[i], nil
			}
		}
		return "", nil, fmt.Errorf("%w: unrecognised content (starts %q); %s", ErrInput, clip(head, 40), expected)
	}
	return kind, nil, nil
}

// detectKind recognises a kind from a file's first bytes, "" if none.
func detectKind(head []byte) string {
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return ""
	}
	if trimmed[0] != '{' {
		line, _, _ := bytes.Cut(trimmed, []byte("\n"))
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("metric_name,timestamp,metric_value")) {
			return FileCSV
		}
		return ""
	}
	// One compact JSON object on the first line: an NDJSON record, or a
	// document written without indentation.
	if line, _, _ := bytes.Cut(trimmed, []byte("\n")); json.Valid(line) {
		var rec struct {
			Schema string          `json:"schema"`
			Type   string          `json:"type"`
			Data   json.RawMessage `json:"data"`
		}
		if json.Unmarshal(line, &rec) == nil {
			if k := bySchema(rec.Schema); k != "" {
				return k
			}
			if (rec.Type == "Metric" || rec.Type == "Point") && len(rec.Data) > 0 {
				return FileNDJSON
			}
		}
	}
	return byKeys(trimmed)
}

func bySchema(s string) string {
	switch s {
	case results.FileSchema:
		return FileResults
	case SchemaVersion:
		return FileReport
	}
	return ""
}

// byKeys walks the top-level keys of a JSON document's beginning: a
// schema decides; a fleet report is known by its own fields.
func byKeys(head []byte) string {
	strs, _ := topKeys(head)
	if k := bySchema(strs["schema"]); k != "" {
		return k
	}
	// An NDJSON record whose first line is longer than the peek.
	if t := strs["type"]; t == "Metric" || t == "Point" {
		return FileNDJSON
	}
	return ""
}

// topKeys walks the top-level keys of a JSON document's beginning: it
// returns the string values of "schema" and "type" and every key seen.
func topKeys(head []byte) (map[string]string, map[string]bool) {
	strs, keys := map[string]string{}, map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimLeft(head, " \t\r\n\ufeff")))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return strs, keys
	}
	for i := 0; i < 64 && dec.More(); i++ {
		t, err := dec.Token()
		if err != nil {
			break
		}
		key, ok := t.(string)
		if !ok {
			break
		}
		keys[key] = true
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			break
		}
		if key == "schema" || key == "type" {
			var v string
			if json.Unmarshal(raw, &v) == nil {
				strs[key] = v
			}
		}
	}
	return strs, keys
}

// DecodeDocument decodes one JSON document of at most MaxDocumentBytes.
func DecodeDocument(r io.Reader, v any) error {
	lr := &io.LimitedReader{R: r, N: MaxDocumentBytes + 1}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("%w: larger than %d bytes", ErrInput, MaxDocumentBytes)
		}
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	return nil
}

// fromFiles merges the shards of one run and builds it.
func fromFiles(files []*results.File, sources []string) (*Run, error) {
	f := files[0]
	if len(files) > 1 {
		var err error
		if f, err = results.MergeFiles(files...); err != nil {
			return nil, fmt.Errorf("merging %s as shards of one run: %w", strings.Join(sources, ", "), err)
		}
	}
	reg, store, th, _, err := f.Load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(sources, ", "), err)
	}
	elapsed := f.Run.End.Sub(f.Run.Start)
	var verdicts []results.Verdict
	if th != nil {
		verdicts = th.Evaluate(store, elapsed, true)
	}
	meta := Meta{
		Title: titleOf(f.Run.Script), Version: f.Run.Version, Scenario: f.Run.Script, Seed: f.Run.Seed,
		Segment: f.Run.Segment, Start: f.Run.Start, End: f.Run.End, Sources: sources,
		Target: f.Run.Target, Machine: f.Run.Machine,
	}
	if t := f.Run.Tags["target"]; t != "" {
		meta.Target = t
	}
	run := FromStore(meta, reg, store, verdicts, elapsed)
	for _, c := range f.Cameras {
		run.Worst = append(run.Worst, CameraRow{Stream: c.Stream, Profile: c.Profile, Kind: c.Kind, Fragments: c.Fragments,
			Lost: c.Lost, Reconnects: c.Reconnects, AckErrors: c.AckErrors, Problem: c.Problem})
	}
	if len(files) > 1 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d shard files merged into one run.", len(files)))
	}
	return run, nil
}

func titleOf(script string) string {
	if script == "" {
		return "camstorm run"
	}
	return "camstorm run " + filepath.Base(script)
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// elapsedOf is the span between two instants, 0 when unknown.
func elapsedOf(start, end time.Time) time.Duration {
	if start.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}

// replay rebuilds a store from k6 NDJSON or CSV samples.
type replay struct {
	reg        *results.Registry
	store      *results.Store
	specs      map[string][]results.ThresholdSpec
	sources    []string
	start, end time.Time
	bad        int64 // unreadable lines
	long       int64 // lines over MaxLineBytes
	refused    int64 // samples whose metric could not be defined
	capped     int64 // samples refused for MaxReplaySeries
	series     map[string]bool
	batch      []results.Sample
}

func newReplay() *replay {
	s := results.NewStore()
	s.Timelines = true
	return &replay{reg: results.NewRegistry(), store: s, specs: map[string][]results.ThresholdSpec{}, series: map[string]bool{}}
}

// lines calls fn with each line of r (without its newline); lines longer
// than MaxLineBytes are skipped and counted, so memory stays bounded.
func (rp *replay) lines(r *bufio.Reader, fn func(line []byte)) error {
	var acc []byte
	tooLong := false
	for {
		frag, err := r.ReadSlice('\n')
		if len(acc)+len(frag) > MaxLineBytes {
			tooLong, acc = true, acc[:0]
		} else if !tooLong {
			acc = append(acc, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(acc) > 0 || tooLong {
			if tooLong {
				rp.long++
			} else if line := bytes.TrimRight(acc, "\r\n"); len(line) > 0 {
				fn(line)
			}
		}
		acc, tooLong = acc[:0], false
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
	}
}

// ndjson replays k6 JSON output: Metric records define metrics (type,
// contains, thresholds); Point records are samples.
func (rp *replay) ndjson(r *bufio.Reader) error {
	err := rp.lines(r, func(line []byte) {
		var rec struct {
			Type   string          `json:"type"`
			Metric string          `json:"metric"`
			Data   json.RawMessage `json:"data"`
		}
		if json.Unmarshal(line, &rec) != nil {
			rp.bad++
			return
		}
		switch rec.Type {
		case "Metric":
			var d struct {
				Name       string                  `json:"name"`
				Type       string                  `json:"type"`
				Contains   string                  `json:"contains"`
				Thresholds []results.ThresholdSpec `json:"thresholds"`
			}
			if json.Unmarshal(rec.Data, &d) != nil {
				rp.bad++
				return
			}
			t, c, ok := parseType(d.Type, d.Contains)
			if !ok {
				rp.bad++
				return
			}
			if _, err := rp.reg.Define(d.Name, t, c); err != nil {
				rp.bad++
				return
			}
			if len(d.Thresholds) > 0 {
				rp.specs[d.Name] = d.Thresholds
			}
		case "Point":
			var d struct {
				Time  time.Time         `json:"time"`
				Value float64           `json:"value"`
				Tags  map[string]string `json:"tags"`
			}
			if json.Unmarshal(rec.Data, &d) != nil {
				rp.bad++
				return
			}
			rp.add(rec.Metric, d.Time, d.Value, d.Tags)
		default:
			rp.bad++
		}
	})
	rp.flush()
	return err
}

// csv replays k6 CSV output: metric_name, timestamp, metric_value, a
// column per system tag, extra_tags (k=v&k=v) and metadata (ignored).
func (rp *replay) csv(r *bufio.Reader) error {
	var cols []string
	err := rp.lines(r, func(line []byte) {
		cr := csv.NewReader(bytes.NewReader(line))
		cr.FieldsPerRecord = -1
		rec, err := cr.Read()
		if err != nil {
			rp.bad++
			return
		}
		if cols == nil {
			cols = rec
			cols[0] = strings.TrimPrefix(cols[0], "\ufeff")
			return
		}
		if len(rec) != len(cols) || len(rec) < 3 {
			rp.bad++
			return
		}
		var (
			name string
			at   time.Time
			v    float64
			tags = map[string]string{}
			ok   = true
		)
		for i, c := range cols {
			switch c {
			case "metric_name":
				name = rec[i]
			case "timestamp":
				at, ok = parseCSVTime(rec[i])
			case "metric_value":
				f, err := strconv.ParseFloat(rec[i], 64)
				v, ok = f, ok && err == nil
			case "metadata":
			case "extra_tags":
				for _, kv := range strings.Split(rec[i], "&") {
					if k, val, found := strings.Cut(kv, "="); found && k != "" {
						tags[k] = val
					}
				}
			default:
				if rec[i] != "" {
					tags[c] = rec[i]
				}
			}
			if !ok {
				break
			}
		}
		if !ok || name == "" {
			rp.bad++
			return
		}
		rp.add(name, at, v, tags)
	})
	rp.flush()
	if cols == nil && err == nil {
		return fmt.Errorf("%w: no header row", ErrInput)
	}
	return err
}

// parseCSVTime reads every timestamp format k6's CSV output writes: RFC
// 3339, or Unix seconds, milliseconds, microseconds or nanoseconds told
// apart by magnitude.
func parseCSVTime(s string) (time.Time, bool) {
	if strings.ContainsAny(s, "T-:") {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	switch {
	case n < 1e11:
		return time.Unix(n, 0), true
	case n < 1e14:
		return time.UnixMilli(n), true
	case n < 1e17:
		return time.UnixMicro(n), true
	}
	return time.Unix(0, n), true
}

// add queues one sample, defining its metric from the names camstorm and
// k6 use when no Metric record did (a Trend when the name is unknown).
func (rp *replay) add(name string, at time.Time, v float64, tags map[string]string) {
	m := rp.reg.Get(name)
	if m == nil {
		t, c := inferType(name)
		var err error
		if m, err = rp.reg.Define(name, t, c); err != nil {
			rp.refused++
			return
		}
	}
	if len(tags) == 0 {
		tags = nil
	}
	if key := name + "\x00" + results.SeriesKey(tags); !rp.series[key] {
		if len(rp.series) >= MaxReplaySeries {
			rp.capped++
			return
		}
		rp.series[key] = true
	}
	if !at.IsZero() {
		if rp.start.IsZero() || at.Before(rp.start) {
			rp.start = at
		}
		if at.After(rp.end) {
			rp.end = at
		}
	}
	rp.batch = append(rp.batch, results.Sample{Metric: m, Time: at, Value: v, Tags: tags})
	if len(rp.batch) >= 512 {
		rp.flush()
	}
}

func (rp *replay) flush() {
	rp.store.Add(rp.batch...)
	clear(rp.batch)
	rp.batch = rp.batch[:0]
}

// run builds the replayed run, judging the thresholds Metric records
// carried.
func (rp *replay) run() *Run {
	elapsed := elapsedOf(rp.start, rp.end)
	var verdicts []results.Verdict
	if len(rp.specs) > 0 {
		if th, err := results.NewThresholds(rp.specs, rp.reg); err == nil {
			verdicts = th.Evaluate(rp.store, elapsed, true)
		}
	}
	meta := Meta{Title: "k6 results", Start: rp.start, End: rp.end, Sources: rp.sources}
	run := FromStore(meta, rp.reg, rp.store, verdicts, elapsed)
	if rp.bad > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d unreadable lines were skipped.", rp.bad))
	}
	if rp.long > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d lines longer than %d bytes were skipped.", rp.long, MaxLineBytes))
	}
	if n := rp.refused + rp.store.Dropped(); n > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d samples were refused (bad metric name, type conflict, or a value that is not a number).", n))
	}
	if rp.capped > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d samples were refused: they would have made more than %d series.", rp.capped, MaxReplaySeries))
	}
	if len(rp.sources) > 1 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d sample files replayed into one run.", len(rp.sources)))
	}
	run.Notes = append(run.Notes, "Whole-run statistics are from replayed samples; counter rates are over the span of sample times.")
	return run
}

// parseType reads a Metric record's type and contains.
func parseType(t, c string) (results.MetricType, results.Contains, bool) {
	var mt results.MetricType
	for _, k := range []results.MetricType{results.Counter, results.Gauge, results.Rate, results.Trend} {
		if t == k.String() {
			mt = k
		}
	}
	var mc results.Contains
	switch c {
	case "time":
		mc = results.Time
	case "data":
		mc = results.Data
	case "default", "":
	default:
		return 0, 0, false
	}
	return mt, mc, mt != 0
}

// knownMetric is a metric's type and contains by the name camstorm or k6
// gives it.
type knownMetric struct {
	t results.MetricType
	c results.Contains
}

// knownMetrics are camstorm's and k6's built-in metrics, for CSV, which
// carries no types.
var knownMetrics = map[string]knownMetric{
	"vus": {results.Gauge, results.Default}, "vus_max": {results.Gauge, results.Default},
	"cameras": {results.Gauge, results.Default}, "camera_starts": {results.Counter, results.Default},
	"iterations": {results.Counter, results.Default}, "iteration_duration": {results.Trend, results.Time},
	"dropped_iterations": {results.Counter, results.Default},
	"data_sent":          {results.Counter, results.Data}, "data_received": {results.Counter, results.Data},
	"checks": {results.Rate, results.Default}, "group_duration": {results.Trend, results.Time},
	"http_reqs": {results.Counter, results.Default}, "http_req_failed": {results.Rate, results.Default},
	"http_req_duration": {results.Trend, results.Time}, "http_req_blocked": {results.Trend, results.Time},
	"http_req_connecting": {results.Trend, results.Time}, "http_req_tls_handshaking": {results.Trend, results.Time},
	"http_req_sending": {results.Trend, results.Time}, "http_req_waiting": {results.Trend, results.Time},
	"http_req_receiving": {results.Trend, results.Time},
	"ws_sessions":        {results.Counter, results.Default}, "ws_msgs_sent": {results.Counter, results.Default},
	"ws_msgs_received": {results.Counter, results.Default}, "ws_connecting": {results.Trend, results.Time},
	"ws_session_duration": {results.Trend, results.Time}, "ws_ping": {results.Trend, results.Time},
	"grpc_req_duration":  {results.Trend, results.Time},
	"camera_ack_latency": {results.Trend, results.Time}, "camera_fragments": {results.Counter, results.Default},
	"camera_fragments_persisted": {results.Counter, results.Default}, "camera_bytes": {results.Counter, results.Data},
	"camera_reconnects": {results.Counter, results.Default}, "camera_ack_errors": {results.Counter, results.Default},
	"camera_drops": {results.Counter, results.Default}, "camera_lost": {results.Counter, results.Default},
	"camera_integrity_failures": {results.Counter, results.Default}, "camera_unverified": {results.Counter, results.Default},
	"viewer_fragments": {results.Counter, results.Default}, "viewer_bytes": {results.Counter, results.Data},
	"viewer_latency": {results.Trend, results.Time}, "viewer_integrity_failures": {results.Counter, results.Default},
	"viewer_errors": {results.Counter, results.Default},
}

// inferType is a metric's type by its name; unknown names are Trends,
// which keep every statistic.
func inferType(name string) (results.MetricType, results.Contains) {
	if k, ok := knownMetrics[name]; ok {
		return k.t, k.c
	}
	return results.Trend, results.Default
}

package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// csvTagColumns are k6's default indexable system tags, alphabetical: the
// CSV output gives each its own column.
var csvTagColumns = []string{
	"check", "error", "error_code", "expected_response", "group", "method", "name",
	"proto", "scenario", "service", "status", "subproto", "tls_version", "url",
}

// csvTimeFormats are the CSV timestamp formats k6 accepts.
var csvTimeFormats = []string{"unix", "unix_milli", "unix_micro", "unix_nano", "rfc3339", "rfc3339_nano"}

func parseTimeFormat(s string) (string, error) {
	if s == "" {
		return "unix", nil
	}
	if slices.Contains(csvTimeFormats, s) {
		return s, nil
	}
	return "", fmt.Errorf("time format %q: want one of %s", s, strings.Join(csvTimeFormats, ", "))
}

// CSVOutput writes samples as k6's CSV output does: a header, then one row
// a sample with metric_name, timestamp, metric_value, a column per
// default system tag, extra_tags and metadata.
type CSVOutput struct {
	w          *csv.Writer
	closeFn    func() error
	loc        *time.Location
	timeFormat string
	interval   time.Duration
	row        []string
	keys       []string
	flushed    time.Time
	err        error
}

var _ Output = (*CSVOutput)(nil)

// NewCSVOutput returns a CSV output writing to w, header first; Close
// flushes but does not close w.
func NewCSVOutput(w io.Writer, opt OutputOptions) (*CSVOutput, error) {
	tf, err := parseTimeFormat(opt.TimeFormat)
	if err != nil {
		return nil, fmt.Errorf("%w: csv: %w", ErrOutput, err)
	}
	interval := opt.SaveInterval
	if interval <= 0 {
		interval = time.Second
	}
	loc := opt.Location
	if loc == nil {
		loc = time.Local
	}
	o := &CSVOutput{
		w: csv.NewWriter(w), loc: loc, timeFormat: tf, interval: interval,
		row: make([]string, 3+len(csvTagColumns)+2),
	}
	header := append([]string{"metric_name", "timestamp", "metric_value"}, csvTagColumns...)
	o.err = o.w.Write(append(header, "extra_tags", "metadata"))
	return o, nil
}

// AddSamples writes a row a sample and flushes when SaveInterval of
// sample time has passed since the last flush; an empty batch flushes.
func (o *CSVOutput) AddSamples(batch []Sample) error {
	if len(batch) == 0 && o.err == nil {
		o.w.Flush()
		o.err = o.w.Error()
	}
	for i := range batch {
		s := &batch[i]
		if s.Metric == nil || o.err != nil {
			continue
		}
		o.err = o.w.Write(o.fillRow(s))
		if o.flushed.IsZero() {
			o.flushed = s.Time
		}
		if s.Time.Sub(o.flushed) >= o.interval {
			o.w.Flush()
			o.err = o.w.Error()
			o.flushed = s.Time
		}
	}
	return o.err
}

// Close flushes the rows and closes the file OpenOutput opened.
func (o *CSVOutput) Close() error {
	o.w.Flush()
	if err := o.w.Error(); err != nil && o.err == nil {
		o.err = err
	}
	if o.closeFn != nil {
		if err := o.closeFn(); err != nil && o.err == nil {
			o.err = err
		}
		o.closeFn = nil
	}
	return o.err
}

func (o *CSVOutput) fillRow(s *Sample) []string {
	row := o.row
	row[0] = s.Metric.Name
	switch o.timeFormat {
	case "rfc3339":
		row[1] = s.Time.In(o.loc).Format(time.RFC3339)
	case "rfc3339_nano":
		row[1] = s.Time.In(o.loc).Format(time.RFC3339Nano)
	case "unix_milli":
		row[1] = strconv.FormatInt(s.Time.UnixMilli(), 10)
	case "unix_micro":
		row[1] = strconv.FormatInt(s.Time.UnixMicro(), 10)
	case "unix_nano":
		row[1] = strconv.FormatInt(s.Time.UnixNano(), 10)
	default:
		row[1] = strconv.FormatInt(s.Time.Unix(), 10)
	}
	row[2] = strconv.FormatFloat(s.Value, 'f', 6, 64)
	for i, tag := range csvTagColumns {
		row[3+i] = s.Tags[tag]
	}
	row[len(row)-2] = o.joinPairs(s.Tags, true)
	row[len(row)-1] = o.joinPairs(s.Metadata, false)
	return row
}

// joinPairs writes a map as k=v pairs sorted by key and joined with &,
// unescaped as k6 writes them; skipColumns leaves out the tag columns.
func (o *CSVOutput) joinPairs(m map[string]string, skipColumns bool) string {
	o.keys = o.keys[:0]
	for k := range m {
		if skipColumns {
			if _, isColumn := slices.BinarySearch(csvTagColumns, k); isColumn {
				continue
			}
		}
		o.keys = append(o.keys, k)
	}
	if len(o.keys) == 0 {
		return ""
	}
	slices.Sort(o.keys)
	var b strings.Builder
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	return b.String()
}

package results

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Output receives a run's samples as they are collected and writes them
// somewhere, as k6's --out does. The collector calls it from one goroutine
// at a time; implementations buffer and flush by sample time, an empty
// batch writes what is buffered (for a collector's wall-clock tick), and
// Close writes whatever is left.
type Output interface {
	AddSamples(batch []Sample) error
	Close() error
}

// ErrOutput marks an invalid --out spec or output option.
var ErrOutput = errors.New("invalid output")

// The output kinds, as --out names them.
const (
	OutputJSON = "json"
	OutputCSV  = "csv"
)

// OutputOptions tunes the outputs; the zero value is k6's defaults.
type OutputOptions struct {
	// TimeFormat is the CSV timestamp column: unix (default), unix_milli,
	// unix_micro, unix_nano, rfc3339 or rfc3339_nano.
	TimeFormat string
	// SaveInterval is how much sample time CSV rows wait before they are
	// written; 0 means k6's 1s.
	SaveInterval time.Duration
	// Location is the zone RFC 3339 times are written in; nil is
	// time.Local, as k6 writes them.
	Location *time.Location
	// Create opens a named output file; nil is os.Create.
	Create func(name string) (io.WriteCloser, error)
}

// ParseOutput splits one --out spec: "json" or "csv" write to stdout,
// "json=FILE" and "csv=FILE" to a file ("-" is stdout). A csv target may
// also be k6's "fileName=F,timeFormat=T,saveInterval=D" list.
func ParseOutput(spec string) (kind, target string, err error) {
	kind, target, hasTarget := strings.Cut(spec, "=")
	switch kind {
	case OutputJSON, OutputCSV:
	default:
		return "", "", fmt.Errorf("%w %q: unknown kind %q; want json, json=FILE, csv or csv=FILE", ErrOutput, spec, kind)
	}
	if hasTarget && target == "" {
		return "", "", fmt.Errorf("%w %q: no file after =; give a file name, or - for stdout", ErrOutput, spec)
	}
	return kind, target, nil
}

// OpenOutput opens the output a --out spec names. With no file, or "-",
// it writes to stdout; a file name ending in .gz is gzipped.
func OpenOutput(spec string, stdout io.Writer, opt OutputOptions) (Output, error) {
	kind, target, err := ParseOutput(spec)
	if err != nil {
		return nil, err
	}
	if kind == OutputCSV && strings.Contains(target, "=") {
		if target, opt, err = parseCSVArgs(target, opt); err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrOutput, spec, err)
		}
	}
	if kind == OutputCSV {
		// Check the options before a file is created.
		if _, err := parseTimeFormat(opt.TimeFormat); err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrOutput, spec, err)
		}
	}
	w, closeFn, err := openTarget(target, stdout, opt)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrOutput, spec, err)
	}
	if kind == OutputJSON {
		o := NewJSONOutput(w, opt)
		o.closeFn = closeFn
		return o, nil
	}
	o, err := NewCSVOutput(w, opt)
	if err != nil {
		_ = closeFn()
		return nil, fmt.Errorf("%w %q: %w", ErrOutput, spec, err)
	}
	o.closeFn = closeFn
	return o, nil
}

// parseCSVArgs reads k6's "fileName=F,timeFormat=T,saveInterval=D" form.
func parseCSVArgs(args string, opt OutputOptions) (string, OutputOptions, error) {
	file := ""
	for pair := range strings.SplitSeq(args, ",") {
		k, v, _ := strings.Cut(pair, "=")
		if v == "" {
			return "", opt, fmt.Errorf("%q is not key=value", pair)
		}
		switch k {
		case "fileName":
			file = v
		case "timeFormat":
			opt.TimeFormat = v
		case "saveInterval":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return "", opt, fmt.Errorf("saveInterval %q: want a positive duration such as 1s", v)
			}
			opt.SaveInterval = d
		default:
			return "", opt, fmt.Errorf("unknown key %q; want fileName, timeFormat or saveInterval", k)
		}
	}
	if file == "" {
		file = "file.csv" // k6's default name
	}
	return file, opt, nil
}

// openTarget returns the writer for a target and what closes it: stdout is
// only flushed, a file is flushed (and its gzip stream ended) and closed.
func openTarget(target string, stdout io.Writer, opt OutputOptions) (io.Writer, func() error, error) {
	if target == "" || target == "-" {
		return stdout, func() error { return nil }, nil
	}
	create := opt.Create
	if create == nil {
		create = func(name string) (io.WriteCloser, error) { return os.Create(name) }
	}
	f, err := create(target)
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", target, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if !strings.HasSuffix(target, ".gz") {
		return bw, func() error {
			return errors.Join(bw.Flush(), f.Close())
		}, nil
	}
	zw := gzip.NewWriter(bw)
	return zw, func() error {
		return errors.Join(zw.Close(), bw.Flush(), f.Close())
	}, nil
}

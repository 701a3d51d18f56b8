// Package devicecheck turns the reference ingest into a fault-injecting
// test bench for one device's stream: a Schedule of server-side faults, and
// a Check (an ingest.SessionHook) that injects them and records what the
// device did (internal/devicerecord) for the device conformance suite.
package devicecheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// ErrSchedule wraps every problem Parse finds.
var ErrSchedule = errors.New("devicecheck: invalid fault schedule")

// Grammar is the schedule syntax, for help texts and docs.
const Grammar = `SCHEDULE := ENTRY { "," ENTRY }
ENTRY    := FAULT "@" TRIGGER            each entry fires once
FAULT    := "close"                      cut the connection mid-fragment (no further ACK)
          | "error=" ID                  send ERROR ACK ID (e.g. 4000, 4002, 5000, 4503) and end the session
          | "withhold=" ACKS ":" DUR     hold back ACKs of these types for DUR, then send them
          | "throttle=" RATE ":" DUR     read the body at most RATE for DUR
          | "stall=" DUR                 stop reading the body for DUR
ACKS     := ACK { "+" ACK }              ACK is buffering, received, persisted or all
RATE     := NUMBER UNIT "/s"             UNIT is B, KB, KiB, MB or MiB
TRIGGER  := "fragment=" N                when the device's Nth distinct fragment (from 1) is in progress
          | "t=" DUR                     at the first fragment data DUR after the first PutMedia
DUR      := a Go duration: 500ms, 10s, 1m30s (at most 10m)`

// Fault kinds.
const (
	KindClose    = "close"
	KindError    = "error"
	KindWithhold = "withhold"
	KindThrottle = "throttle"
	KindStall    = "stall"
)

// Fault is one entry of a schedule.
type Fault struct {
	Spec string // the entry as written
	Kind string
	// ErrorID for KindError.
	ErrorID kvsapi.ErrorID
	// Acks for KindWithhold.
	Acks []kvsapi.EventType
	// BytesPerSecond for KindThrottle.
	BytesPerSecond int64
	// Duration of a withhold, throttle or stall.
	Duration time.Duration
	// Trigger: AtFragment (from 1) or, when 0, AtTime after the first
	// PutMedia.
	AtFragment int
	AtTime     time.Duration
}

// EndsSession reports whether the fault ends the session it fires in.
func (f Fault) EndsSession() bool { return f.Kind == KindClose || f.Kind == KindError }

// Schedule is a parsed fault schedule, in the order written.
type Schedule []Fault

// maxFaultDuration bounds every duration of a schedule.
const maxFaultDuration = 10 * time.Minute

// Parse reads a schedule (Grammar), reporting every problem at once. An
// empty string is an empty schedule.
func Parse(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out Schedule
	var problems []error
	for i, raw := range strings.Split(s, ",") {
		entry := strings.TrimSpace(raw)
		f, errs := parseEntry(entry)
		for _, e := range errs {
			problems = append(problems, fmt.Errorf("%w: entry %d %q: %s", ErrSchedule, i+1, entry, e))
		}
		if len(errs) == 0 {
			out = append(out, f)
		}
	}
	if len(problems) > 0 {
		problems = append(problems, fmt.Errorf("the grammar is:\n%s", Grammar))
		return nil, errors.Join(problems...)
	}
	return out, nil
}

func parseEntry(entry string) (Fault, []string) {
	f := Fault{Spec: entry}
	var bad []string
	what, trigger, ok := strings.Cut(entry, "@")
	if !ok {
		return f, []string{`no trigger: write FAULT@fragment=N or FAULT@t=DUR, e.g. close@fragment=3`}
	}
	kind, arg, hasArg := strings.Cut(what, "=")
	f.Kind = kind
	switch kind {
	case KindClose:
		if hasArg {
			bad = append(bad, "close takes no argument")
		}
	case KindError:
		id, err := strconv.Atoi(arg)
		switch {
		case !hasArg || err != nil:
			bad = append(bad, fmt.Sprintf("error needs a numeric ERROR id, e.g. error=4000, got %q", arg))
		case kvsapi.ErrorID(id).Code() == "UNKNOWN_ERROR":
			bad = append(bad, fmt.Sprintf("error id %d is not in the KVS table (kvs-protocol.md §1.3): use 4000-4012, 4500-4507, 5000 or 5001", id))
		default:
			f.ErrorID = kvsapi.ErrorID(id)
		}
	case KindWithhold:
		acks, dur, ok := strings.Cut(arg, ":")
		if !hasArg || !ok {
			bad = append(bad, "withhold needs ACKS:DUR, e.g. withhold=persisted:10s")
			break
		}
		for _, a := range strings.Split(acks, "+") {
			switch strings.ToLower(a) {
			case "buffering":
				f.Acks = append(f.Acks, kvsapi.EventBuffering)
			case "received":
				f.Acks = append(f.Acks, kvsapi.EventReceived)
			case "persisted":
				f.Acks = append(f.Acks, kvsapi.EventPersisted)
			case "all":
				f.Acks = append(f.Acks, kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted)
			default:
				bad = append(bad, fmt.Sprintf("ACK type %q: want buffering, received, persisted or all", a))
			}
		}
		f.Duration, bad = parseDur(dur, "withhold", bad)
	case KindThrottle:
		rate, dur, ok := strings.Cut(arg, ":")
		if !hasArg || !ok {
			bad = append(bad, "throttle needs RATE:DUR, e.g. throttle=32KiB/s:5s")
			break
		}
		bps, err := parseRate(rate)
		if err != nil {
			bad = append(bad, err.Error())
		}
		f.BytesPerSecond = bps
		f.Duration, bad = parseDur(dur, "throttle", bad)
	case KindStall:
		if !hasArg {
			bad = append(bad, "stall needs a duration, e.g. stall=5s")
			break
		}
		f.Duration, bad = parseDur(arg, "stall", bad)
	default:
		bad = append(bad, fmt.Sprintf("unknown fault %q: want close, error=ID, withhold=ACKS:DUR, throttle=RATE:DUR or stall=DUR", kind))
	}
	tk, tv, _ := strings.Cut(trigger, "=")
	switch tk {
	case "fragment":
		n, err := strconv.Atoi(tv)
		if err != nil || n < 1 {
			bad = append(bad, fmt.Sprintf("fragment=N needs N >= 1, got %q", tv))
		}
		f.AtFragment = n
	case "t":
		d, err := time.ParseDuration(tv)
		if err != nil || d < 0 || d > 24*time.Hour {
			bad = append(bad, fmt.Sprintf("t=DUR needs a duration between 0 and 24h, e.g. t=20s, got %q", tv))
		}
		f.AtTime = d
	default:
		bad = append(bad, fmt.Sprintf("unknown trigger %q: want fragment=N or t=DUR", trigger))
	}
	return f, bad
}

func parseDur(s, what string, bad []string) (time.Duration, []string) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxFaultDuration {
		return 0, append(bad, fmt.Sprintf("%s duration %q: want a Go duration above 0 and at most %v, e.g. 5s", what, s, maxFaultDuration))
	}
	return d, bad
}

// parseRate reads "32KiB/s".
func parseRate(s string) (int64, error) {
	num, ok := strings.CutSuffix(s, "/s")
	if !ok {
		return 0, fmt.Errorf("rate %q must end in /s, e.g. 32KiB/s", s)
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000_000}, {"B", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > 1<<40/u.mult {
				return 0, fmt.Errorf("rate %q: want a whole number >= 1 before %s/s", s, u.suffix)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("rate %q: the unit must be B, KB, KiB, MB or MiB per second, e.g. 32KiB/s", s)
}

// String writes the schedule back in its grammar.
func (s Schedule) String() string {
	specs := make([]string, len(s))
	for i, f := range s {
		specs[i] = f.Spec
	}
	return strings.Join(specs, ",")
}

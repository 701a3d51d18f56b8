package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Errors from Query.
var (
	ErrInvalidFilter = errors.New("audit: invalid filter")
	ErrMalformed     = errors.New("audit: malformed log line")
)

// Filter selects records; empty fields match everything and set fields
// must all match.
//
// Principal and Resource are ARN patterns: with '*' (any run of
// characters, '/' and ':' included) or '?' (one character) they must match
// the whole ARN; without, they match as a prefix, so
// "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-" selects every
// stream whose name starts with cam-.
type Filter struct {
	// Since and Until bound eventTime: Since <= eventTime < Until.
	Since, Until time.Time
	// EventNames and EventSources match if any entry equals the field.
	EventNames   []string
	EventSources []string
	// Principal matches userIdentity.arn or, for role sessions, the
	// role's ARN (sessionContext.sessionIssuer.arn).
	Principal   string
	AccessKeyID string
	// SourceIP is an address or a CIDR prefix such as 10.0.0.0/8.
	SourceIP string
	// ErrorCode matches exactly; "*" matches any failed request.
	ErrorCode string
	// Denied keeps only requests refused for authentication or
	// authorisation (IsDenied).
	Denied bool
	// Resource matches any of the record's resources' ARNs.
	Resource string
}

// Validate reports every problem with the filter at once.
func (f Filter) Validate() error {
	_, err := f.compile()
	return err
}

type compiledFilter struct {
	Filter
	ip netip.Prefix
}

func (f Filter) compile() (compiledFilter, error) {
	c := compiledFilter{Filter: f}
	var errs []error
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, fmt.Errorf("since %s is not before until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339)))
	}
	if f.SourceIP != "" {
		if p, err := netip.ParsePrefix(f.SourceIP); err == nil {
			c.ip = p.Masked()
		} else if a, err := netip.ParseAddr(f.SourceIP); err == nil {
			c.ip = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		} else {
			errs = append(errs, fmt.Errorf("source IP %q is neither an address nor a CIDR prefix like 10.0.0.0/8", f.SourceIP))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: %w", ErrInvalidFilter, errors.Join(errs...))
	}
	return c, nil
}

// Match reports whether rec passes the filter. An invalid filter matches
// nothing; call Validate first.
func (f Filter) Match(rec Record) bool {
	c, err := f.compile()
	return err == nil && c.match(&rec)
}

func (c *compiledFilter) match(r *Record) bool {
	if !c.Since.IsZero() && r.EventTime.Before(c.Since) {
		return false
	}
	if !c.Until.IsZero() && !r.EventTime.Before(c.Until) {
		return false
	}
	if len(c.EventNames) > 0 && !contains(c.EventNames, r.EventName) {
		return false
	}
	if len(c.EventSources) > 0 && !contains(c.EventSources, r.EventSource) {
		return false
	}
	if c.Principal != "" {
		issuer := ""
		if r.UserIdentity.SessionContext != nil {
			issuer = r.UserIdentity.SessionContext.SessionIssuer.ARN
		}
		if !arnMatch(c.Principal, r.UserIdentity.ARN) && (issuer == "" || !arnMatch(c.Principal, issuer)) {
			return false
		}
	}
	if c.AccessKeyID != "" && r.UserIdentity.AccessKeyID != c.AccessKeyID {
		return false
	}
	if c.ip.IsValid() {
		a, err := netip.ParseAddr(r.SourceIPAddress)
		if err != nil || !c.ip.Contains(a.Unmap()) {
			return false
		}
	}
	switch c.ErrorCode {
	case "":
	case "*":
		if r.ErrorCode == "" {
			return false
		}
	default:
		if r.ErrorCode != c.ErrorCode {
			return false
		}
	}
	if c.Denied && !r.Denied() {
		return false
	}
	if c.Resource != "" {
		found := false
		for _, res := range r.Resources {
			if arnMatch(c.Resource, res.ARN) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// arnMatch matches an ARN against a pattern (see Filter).
func arnMatch(pattern, arn string) bool {
	if arn == "" {
		return false
	}
	if !strings.ContainsAny(pattern, "*?") {
		return strings.HasPrefix(arn, pattern)
	}
	return glob(pattern, arn)
}

// glob matches '*' (any run) and '?' (one byte) against the whole of s,
// iteratively with one backtrack point, so it runs in O(len(p)*len(s)).
func glob(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// Query reads a log from r and calls fn, in log order, with every record
// the filter selects; each record's Chain is filled from its line. It reads
// in constant memory and does not check the chain (Verify does). A line
// that is not a record stops it with an error wrapping ErrMalformed that
// names the line; a last line without a newline is taken to be still being
// written and is skipped. If fn returns an error, Query stops and returns
// it.
func Query(r io.Reader, f Filter, fn func(Record) error) error {
	c, err := f.compile()
	if err != nil {
		return err
	}
	lr := newLineReader(r, MaxLineBytes)
	for {
		line, _, terminated, err := lr.next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errLineTooLong):
			return fmt.Errorf("%w: line %d is longer than %d bytes", ErrMalformed, lr.line, MaxLineBytes)
		case err != nil:
			return fmt.Errorf("audit: reading line %d: %w", lr.line+1, err)
		case !terminated:
			return nil
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrMalformed, lr.line, err)
		}
		if !c.match(&rec) {
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

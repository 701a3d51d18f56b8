package policy

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opType is the type a condition operator compares values as.
type opType uint8

const (
	opString opType = iota
	opStringIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLess
	opNumericLessEquals
	opNumericGreater
	opNumericGreaterEquals
	opDateEquals
	opDateLess
	opDateLessEquals
	opDateGreater
	opDateGreaterEquals
	opBool
	opIP
	opARN
	opNull
)

// operators maps each base operator name to its type and whether it is the
// negation of that type's match.
var operators = map[string]struct {
	typ     opType
	negated bool
}{
	"StringEquals":              {opString, false},
	"StringNotEquals":           {opString, true},
	"StringEqualsIgnoreCase":    {opStringIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLess, false},
	"NumericLessThanEquals":     {opNumericLessEquals, false},
	"NumericGreaterThan":        {opNumericGreater, false},
	"NumericGreaterThanEquals":  {opNumericGreaterEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLess, false},
	"DateLessThanEquals":        {opDateLessEquals, false},
	"DateGreaterThan":           {opDateGreater, false},
	"DateGreaterThanEquals":     {opDateGreaterEquals, false},
	"Bool":                      {opBool, false},
	"IpAddress":                 {opIP, false},
	"NotIpAddress":              {opIP, true},
	"ArnEquals":                 {opARN, false},
	"ArnLike":                   {opARN, false},
	"ArnNotEquals":              {opARN, true},
	"ArnNotLike":                {opARN, true},
	"Null":                      {opNull, false},
}

// setMode is a condition operator's set prefix.
type setMode uint8

const (
	setNone      setMode = iota
	setAnyValue          // ForAnyValue: some request value matches
	setAllValues         // ForAllValues: every request value matches
)

// condition is one key under one operator of a Condition block.
type condition struct {
	operator string // as written, for messages
	typ      opType
	negated  bool
	ifExists bool
	set      setMode
	key      string
	values   []conditionValue
}

// conditionValue is one policy value, parsed for the operator's type.
type conditionValue struct {
	text   template // String*
	arn    arnPattern
	num    float64
	time   time.Time
	prefix netip.Prefix
	flag   bool // Bool and Null
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (condition, error) {
	c := condition{operator: name}
	base := name
	if rest, ok := strings.CutPrefix(base, "ForAnyValue:"); ok {
		c.set, base = setAnyValue, rest
	} else if rest, ok := strings.CutPrefix(base, "ForAllValues:"); ok {
		c.set, base = setAllValues, rest
	}
	op, ok := operators[base]
	if !ok {
		if trimmed, cut := strings.CutSuffix(base, "IfExists"); cut {
			op, ok = operators[trimmed]
			c.ifExists = true
		}
	}
	if !ok {
		return c, fmt.Errorf("unknown condition operator %q", name)
	}
	if op.typ == opNull && (c.ifExists || c.set != setNone) {
		return c, fmt.Errorf("condition operator %q: Null takes neither IfExists nor a set prefix", name)
	}
	c.typ, c.negated = op.typ, op.negated
	return c, nil
}

// parseValue parses one policy value for c's type.
func (c *condition) parseValue(s string, variables bool) (conditionValue, error) {
	var v conditionValue
	var err error
	switch c.typ {
	case opString, opStringIgnoreCase:
		v.text, err = compile(s, compileOptions{variables: variables})
	case opStringLike:
		v.text, err = compile(s, compileOptions{wildcards: true, variables: variables})
	case opNumericEquals, opNumericLess, opNumericLessEquals, opNumericGreater, opNumericGreaterEquals:
		v.num, err = parseNumber(s)
	case opDateEquals, opDateLess, opDateLessEquals, opDateGreater, opDateGreaterEquals:
		v.time, err = parseDate(s)
	case opBool, opNull:
		v.flag, err = parseBool(s)
	case opIP:
		v.prefix, err = parsePrefix(s)
	case opARN:
		v.arn, err = compileARN(s, compileOptions{wildcards: true, variables: variables})
	}
	return v, err
}

func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// dateLayouts are the ISO 8601 forms AWS accepts in Date conditions and
// aws:CurrentTime; an integer is seconds since the epoch (aws:EpochTime).
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02"}

func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= -1<<40 && n <= 1<<40 {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (ISO 8601 such as 2026-01-02T15:04:05Z, or epoch seconds)", s)
}

func parseBool(s string) (bool, error) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// eval reports whether the condition holds for the request context.
func (c *condition) eval(ctx map[string][]string) bool {
	vals, present := lookup(ctx, c.key)
	absent := !present || len(vals) == 0
	if c.typ == opNull {
		for _, v := range c.values {
			if v.flag == absent {
				return true
			}
		}
		return false
	}
	if absent {
		switch {
		case c.ifExists, c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		}
		// A negated operator holds for a missing key: nothing equals.
		return c.negated
	}
	switch c.set {
	case setAnyValue:
		for _, v := range vals {
			if c.test(v, ctx) {
				return true
			}
		}
		return false
	case setAllValues:
		for _, v := range vals {
			if !c.test(v, ctx) {
				return false
			}
		}
		return true
	}
	// Without a set prefix a positive operator needs one request value to
	// match; a negated one needs none to (StringNotEquals = not StringEquals).
	if c.negated {
		for _, v := range vals {
			if !c.test(v, ctx) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.test(v, ctx) {
			return true
		}
	}
	return false
}

// test applies the operator to one request value: a positive operator holds
// when the value matches any policy value, a negated one when it matches
// none. A value that is not of the operator's type (an IP address that does
// not parse) satisfies neither, and so does a policy value whose variable
// has no value.
func (c *condition) test(s string, ctx map[string][]string) bool {
	matched, ok := c.matchAny(s, ctx)
	if !ok {
		return false
	}
	return matched != c.negated
}

func (c *condition) matchAny(s string, ctx map[string][]string) (matched, ok bool) {
	ok = true
	switch c.typ {
	case opString, opStringLike:
		for i := range c.values {
			m, err := c.values[i].text.match(s, ctx, false)
			if err != nil {
				ok = false
				continue
			}
			if m {
				return true, true
			}
		}
		return false, ok
	case opStringIgnoreCase:
		for i := range c.values {
			t := &c.values[i].text
			if t.static {
				if strings.EqualFold(s, t.raw) {
					return true, true
				}
				continue
			}
			var buf [8]elem
			es, err := t.resolve(ctx, buf[:])
			if err != nil {
				ok = false
				continue
			}
			var b strings.Builder
			for _, e := range es {
				b.WriteString(e.text)
			}
			if strings.EqualFold(s, b.String()) {
				return true, true
			}
		}
		return false, ok
	case opARN:
		for i := range c.values {
			m, err := c.values[i].arn.match(s, ctx)
			if err != nil {
				ok = false
				continue
			}
			if m {
				return true, true
			}
		}
		return false, ok
	case opNumericEquals, opNumericLess, opNumericLessEquals, opNumericGreater, opNumericGreaterEquals:
		n, err := parseNumber(s)
		if err != nil {
			return false, false
		}
		for _, v := range c.values {
			if compareOK(c.typ-opNumericEquals, cmpFloat(n, v.num)) {
				return true, true
			}
		}
		return false, true
	case opDateEquals, opDateLess, opDateLessEquals, opDateGreater, opDateGreaterEquals:
		t, err := parseDate(s)
		if err != nil {
			return false, false
		}
		for _, v := range c.values {
			if compareOK(c.typ-opDateEquals, t.Compare(v.time)) {
				return true, true
			}
		}
		return false, true
	case opBool:
		b, err := parseBool(s)
		if err != nil {
			return false, false
		}
		for _, v := range c.values {
			if v.flag == b {
				return true, true
			}
		}
		return false, true
	case opIP:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false, false
		}
		a = a.Unmap().WithZone("")
		for _, v := range c.values {
			if v.prefix.Contains(a) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareOK applies a comparison (its offset from the Equals operator of
// its family: Equals, Less, LessEquals, Greater, GreaterEquals) to a
// three-way comparison result.
func compareOK(rel opType, cmp int) bool {
	switch rel {
	case 0:
		return cmp == 0
	case 1:
		return cmp < 0
	case 2:
		return cmp <= 0
	case 3:
		return cmp > 0
	case 4:
		return cmp >= 0
	}
	return false
}

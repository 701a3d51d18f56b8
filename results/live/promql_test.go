package live_test

import (
	"regexp"
	"slices"
	"strings"
)

// PromQL pieces that are not metric names: quoted strings (label values,
// regexps), label matchers in braces, range and subquery brackets, and
// the label lists after by, without, on, ignoring, group_left and
// group_right.
var (
	promString    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promRange     = regexp.MustCompile(`\[[^\[\]]*\]`)
	promLabelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promFollowed  = regexp.MustCompile(`^\s*\(`)
)

// promKeywords are identifiers PromQL reserves outside function calls.
var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// metricNames returns the metric names a PromQL expression selects:
// identifiers outside strings, matchers, ranges and label lists that are
// neither a keyword nor a function or aggregation (followed by "("). A
// name followed by "(" is always a function in PromQL, so the rule is
// exact for the expressions a dashboard holds; Grafana's $variables are
// dropped with the brackets or strings they sit in, or as "$name" tokens.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promLabelList.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		switch {
		case loc[0] > 0 && (s[loc[0]-1] == '$' || isDigit(s[loc[0]-1]) || s[loc[0]-1] == '.'):
			continue // a $variable or part of a number such as 1e3
		case promKeywords[name] || promFollowed.MatchString(s[loc[1]:]):
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// matcherLabels returns the label names a PromQL expression filters or
// groups on, to check against the scraped series.
func matcherLabels(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	var out []string
	add := func(names string) {
		for n := range strings.SplitSeq(names, ",") {
			n = strings.TrimSpace(n)
			if n != "" && n != "le" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	for _, m := range promMatchers.FindAllString(s, -1) {
		for part := range strings.SplitSeq(strings.Trim(m, "{}"), ",") {
			name, _, _ := strings.Cut(part, `""`)
			add(strings.TrimRight(strings.TrimSpace(name), "=~!"))
		}
	}
	for _, m := range promLabelList.FindAllString(s, -1) {
		_, list, _ := strings.Cut(m, "(")
		add(strings.TrimSuffix(list, ")"))
	}
	slices.Sort(out)
	return out
}

package policy

import (
	"strings"
	"testing"
	"time"
)

func TestWildcardMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		fold       bool
		want       bool
	}{
		{"", "", false, true},
		{"", "a", false, false},
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"kms:*", "kms:Decrypt", false, true},
		{"kms:*", "kms:", false, true},
		{"kms:*", "km", false, false},
		{"kms:Describe*", "kms:DescribeKey", false, true},
		{"kms:describe*", "KMS:DescribeKey", true, true},
		{"kms:describe*", "KMS:DescribeKey", false, false},
		{"kms:ScheduleKey?eletion", "kms:ScheduleKeyDeletion", false, true},
		{"kms:ScheduleKey?eletion", "kms:ScheduleKeyeletion", false, false},
		{"a?c", "aéc", false, true}, // ? is one character, not one byte
		{"a??c", "aéc", false, false},
		{"*a*b*c*", "xxaxxbxxcxx", false, true},
		{"*a*b*c", "xxaxxbxxcxx", false, false},
		{"a*b*c", "abcbc", false, true},
		{"a*bc", "abcbc", false, true},
		{"a*b?c", "abxcbyc", false, true},
		{"*ab", "aab", false, true},
		{"*?", "", false, false},
		{"*?", "x", false, true},
		{"?*?", "x", false, false},
		{"ab*ba", "aba", false, false},
		{"stream/*/*", "stream/cam/123", false, true},
		{"stream/*/*", "stream/cam", false, false},
	} {
		tmpl, err := compile(tc.pattern, compileOptions{wildcards: true, fold: tc.fold})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := tmpl.match(tc.s, nil, tc.fold); got != tc.want {
			t.Errorf("match(%q, %q, fold=%v) = %v, want %v", tc.pattern, tc.s, tc.fold, got, tc.want)
		}
	}
}

// A backtracking matcher takes exponential (or at best quadratic with a
// large constant) time on this input; this one must stay fast.
func TestWildcardMatchingHasNoBacktracking(t *testing.T) {
	s := strings.Repeat("a", 30000)
	for _, pattern := range []string{
		strings.Repeat("a*", 500) + "b",
		"*" + strings.Repeat("a", 10000) + "b*",
		strings.Repeat("*a", 5000) + "*b*",
	} {
		tmpl, err := compile(pattern, compileOptions{wildcards: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if ok, _ := tmpl.match(s, nil, false); ok {
			t.Fatalf("%.20s… matched a string without b", pattern)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("matching %.20s… (%d bytes) against %d bytes took %v", pattern, len(pattern), len(s), d)
		}
	}
}

func TestARNPatternsMatchComponentwise(t *testing.T) {
	for _, tc := range []struct {
		pattern, arn string
		want         bool
	}{
		{"*", "arn:aws:kms:us-east-1:111122223333:key/k", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/k", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:444455556666:key/k", false},
		// A star in one component does not swallow the next ones.
		{"arn:aws:kinesisvideo:*:111122223333:stream/cam/*", "arn:aws:kinesisvideo:r:x:111122223333:stream/cam/1", false},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b:c", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:eu-west-1::bucket/a", false},
		{"arn:aws:s3:::*", "arn:aws:s3:::", true},
		{"arn:aws:kms:*", "arn:aws:kms:us-east-1:111122223333:key/k", true}, // not six components: whole string
		{"arn:aws:kms:us-east-1:111122223333:key/K", "arn:aws:kms:us-east-1:111122223333:key/k", false},
		{"arn:aws:kms:us-east-1:111122223333:key/k", "not-an-arn", false},
	} {
		p, err := compileARN(tc.pattern, compileOptions{wildcards: true, variables: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := p.match(tc.arn, nil); got != tc.want {
			t.Errorf("ARN pattern %q match %q = %v, want %v", tc.pattern, tc.arn, got, tc.want)
		}
	}
}

func TestPolicyVariables(t *testing.T) {
	ctx := map[string][]string{
		"aws:username":              {"alice"},
		"credentials-iot:ThingName": {"cam-7"},
		"aws:PrincipalTag/team":     {"video"},
		"kms:EncryptionContext:app": {"ingest"},
		"multi":                     {"a", "b"},
	}
	for _, tc := range []struct {
		pattern, s string
		want       bool
		unresolved bool
	}{
		{"home/${aws:username}/*", "home/alice/x", true, false},
		{"home/${aws:username}/*", "home/bob/x", false, false},
		{"home/${AWS:UserName}/*", "home/alice/x", true, false}, // key names are case-insensitive
		{"stream/${credentials-iot:ThingName}/*", "stream/cam-7/1", true, false},
		{"${kms:EncryptionContext:app}", "ingest", true, false},
		{"t/${aws:PrincipalTag/team, 'all'}", "t/video", true, false},
		{"t/${aws:PrincipalTag/dept, 'all'}", "t/all", true, false},
		{"t/${aws:PrincipalTag/dept , 'a b'}", "t/a b", true, false},
		{"t/${aws:PrincipalTag/dept}", "t/", false, true},
		{"t/${multi}", "t/a", false, true}, // a multivalued key is no single value
		{"lit${*}", "lit*", true, false},
		{"lit${*}", "litx", false, false},
		{"lit${?}", "lit?", true, false},
		{"lit${?}", "litx", false, false},
		{"cost${$}", "cost$", true, false},
		{"a$b", "a$b", true, false},
	} {
		tmpl, err := compile(tc.pattern, compileOptions{wildcards: true, variables: true})
		if err != nil {
			t.Fatalf("compile(%q): %v", tc.pattern, err)
		}
		got, err := tmpl.match(tc.s, ctx, false)
		if got != tc.want || (err != nil) != tc.unresolved {
			t.Errorf("match(%q, %q) = %v, %v; want %v, unresolved %v", tc.pattern, tc.s, got, err, tc.want, tc.unresolved)
		}
	}
	// A substituted value is literal text, never a wildcard.
	tmpl, _ := compile("home/${aws:username}", compileOptions{wildcards: true, variables: true})
	if ok, _ := tmpl.match("home/alice", map[string][]string{"aws:username": {"*"}}, false); ok {
		t.Error(`aws:username "*" acted as a wildcard`)
	}
}

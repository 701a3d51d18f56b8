package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queryLog is a small mixed log: what the stack writes in a minute.
func queryLog(t *testing.T) []byte {
	t.Helper()
	stream := func(name string) []Resource {
		return []Resource{{ARN: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/" + name + "/1700000000000", Type: ResourceStream}}
	}
	camera := func(name string) UserIdentity {
		return UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/camera/" + name, AccessKeyID: "ASIA" + strings.ToUpper(name),
			SessionContext: &SessionContext{SessionIssuer: SessionIssuer{Type: "Role", ARN: "arn:aws:iam::111122223333:role/camera"}}}
	}
	recs := []Record{
		{EventTime: t0, EventSource: SourceKinesisVideo, EventName: "PutMedia", UserIdentity: camera("cam-1"), SourceIPAddress: "10.0.0.1", Resources: stream("cam-1")},
		{EventTime: t0.Add(10 * time.Second), EventSource: SourceKinesisVideo, EventName: "PutMedia", UserIdentity: camera("cam-2"), SourceIPAddress: "10.0.0.2", Resources: stream("cam-1"), ErrorCode: "AccessDeniedException"},
		{EventTime: t0.Add(20 * time.Second), EventSource: SourceKMS, EventName: "GenerateDataKey", UserIdentity: UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/ingest", AccessKeyID: "AKIAINGEST"}, SourceIPAddress: "127.0.0.1",
			Resources: []Resource{{ARN: "arn:aws:kms:us-east-1:111122223333:key/k1", Type: ResourceKMSKey}}},
		{EventTime: t0.Add(30 * time.Second), EventSource: SourceKMS, EventName: "Decrypt", UserIdentity: UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/ingest", AccessKeyID: "AKIAINGEST"}, SourceIPAddress: "127.0.0.1", ErrorCode: "KMSInvalidStateException"},
		{EventTime: t0.Add(40 * time.Second), EventSource: SourceIoTCredentials, EventName: "AssumeRoleWithCertificate", UserIdentity: UserIdentity{Type: IdentityUnknown}, SourceIPAddress: "2001:db8::5"},
		{EventTime: t0.Add(50 * time.Second), EventSource: SourceSTS, EventName: "AssumeRole", UserIdentity: UserIdentity{Type: IdentityUnknown, AccessKeyID: "AKIABAD"}, SourceIPAddress: "192.0.2.9", ErrorCode: "InvalidSignatureException"},
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	for _, r := range recs {
		require.NoError(t, l.Append(r))
	}
	require.NoError(t, l.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestQueryFilters(t *testing.T) {
	log := queryLog(t)
	cases := []struct {
		name string
		f    Filter
		want []uint64 // sequence numbers
	}{
		{"everything", Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"since", Filter{Since: t0.Add(30 * time.Second)}, []uint64{4, 5, 6}},
		{"until is exclusive", Filter{Until: t0.Add(20 * time.Second)}, []uint64{1, 2}},
		{"time window", Filter{Since: t0.Add(10 * time.Second), Until: t0.Add(31 * time.Second)}, []uint64{2, 3, 4}},
		{"event names", Filter{EventNames: []string{"Decrypt", "AssumeRole"}}, []uint64{4, 6}},
		{"event source", Filter{EventSources: []string{SourceKMS}}, []uint64{3, 4}},
		{"principal prefix", Filter{Principal: "arn:aws:sts::111122223333:assumed-role/camera/cam-"}, []uint64{1, 2}},
		{"principal glob", Filter{Principal: "arn:aws:sts::*:assumed-role/*/cam-2"}, []uint64{2}},
		{"principal by role", Filter{Principal: "arn:aws:iam::111122223333:role/camera"}, []uint64{1, 2}},
		{"principal exact user", Filter{Principal: "arn:aws:iam::111122223333:user/ingest"}, []uint64{3, 4}},
		{"access key", Filter{AccessKeyID: "AKIABAD"}, []uint64{6}},
		{"source ip", Filter{SourceIP: "10.0.0.2"}, []uint64{2}},
		{"source cidr", Filter{SourceIP: "10.0.0.0/8"}, []uint64{1, 2}},
		{"source ipv6 cidr", Filter{SourceIP: "2001:db8::/32"}, []uint64{5}},
		{"error code", Filter{ErrorCode: "KMSInvalidStateException"}, []uint64{4}},
		{"any error", Filter{ErrorCode: "*"}, []uint64{2, 4, 6}},
		{"denied only", Filter{Denied: true}, []uint64{2, 6}},
		{"resource stream prefix", Filter{Resource: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/"}, []uint64{1, 2}},
		{"resource glob", Filter{Resource: "arn:aws:kms:*:key/*"}, []uint64{3}},
		{"denied on a stream", Filter{Denied: true, Resource: "arn:aws:kinesisvideo:*"}, []uint64{2}},
		{"nothing", Filter{EventNames: []string{"DeleteStream"}}, nil},
	}
	for _, tc := range cases {
		var got []uint64
		err := Query(bytes.NewReader(log), tc.f, func(r Record) error {
			got = append(got, r.Chain.Seq)
			return nil
		})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, "%s: Query(%+v)", tc.name, tc.f)
	}
}

func TestQueryStopsWhenTheCallbackFails(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	err := Query(bytes.NewReader(queryLog(t)), Filter{}, func(Record) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

func TestQueryRejectsBadFiltersAndLines(t *testing.T) {
	err := Query(strings.NewReader(""), Filter{SourceIP: "10.0.0.300", Since: t0, Until: t0}, func(Record) error { return nil })
	require.ErrorIs(t, err, ErrInvalidFilter)
	require.ErrorContains(t, err, "10.0.0.300")
	require.ErrorContains(t, err, "is not before")

	log := queryLog(t)
	bad := append(append([]byte{}, log...), []byte("not json\n")...)
	err = Query(bytes.NewReader(bad), Filter{}, func(Record) error { return nil })
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "line 7")

	// A last line still being written is skipped, not an error.
	partial := append(append([]byte{}, log...), []byte(`{"eventVersion":"1.08","even`)...)
	n := 0
	require.NoError(t, Query(bytes.NewReader(partial), Filter{}, func(Record) error { n++; return nil }))
	require.Equal(t, 6, n)
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"a*c", "abc", true},
		{"a*c", "ab/xc", true},
		{"a*c", "abcd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*b*", "abxbx", true},
		{"*aab", "aaaab", true},
		{"a*a*a*a*a*a*b", strings.Repeat("a", 100), false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, glob(tc.p, tc.s), "glob(%q, %q)", tc.p, tc.s)
	}
}

func TestFilterMatchAndValidate(t *testing.T) {
	rec := Record{EventName: "PutMedia"}
	require.True(t, Filter{EventNames: []string{"PutMedia"}}.Match(rec))
	require.False(t, Filter{EventNames: []string{"GetMedia"}}.Match(rec))
	require.False(t, Filter{SourceIP: "nope"}.Match(rec), "invalid filters match nothing")
	require.ErrorIs(t, Filter{SourceIP: "nope"}.Validate(), ErrInvalidFilter)
	require.NoError(t, Filter{}.Validate())
}

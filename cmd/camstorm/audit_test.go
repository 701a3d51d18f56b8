package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/stack/audit"
)

// writeAuditLog writes a four-record log: two cameras' PutMedia (one
// denied), the ingest's GenerateDataKey and a bad-signature AssumeRole.
func writeAuditLog(t *testing.T) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.Open(path, audit.Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	now := time.Now().UTC()
	stream := []audit.Resource{{ARN: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1700000000000", Type: audit.ResourceStream}}
	recs := []audit.Record{
		{EventTime: now.Add(-3 * time.Hour), EventSource: audit.SourceKinesisVideo, EventName: "PutMedia", SourceIPAddress: "10.0.0.1", Resources: stream,
			UserIdentity: audit.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/camera/cam-1", AccessKeyID: "ASIACAM1"}},
		{EventTime: now.Add(-30 * time.Minute), EventSource: audit.SourceKinesisVideo, EventName: "PutMedia", SourceIPAddress: "10.0.0.2", Resources: stream, ErrorCode: "AccessDeniedException",
			UserIdentity: audit.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/camera/cam-2", AccessKeyID: "ASIACAM2"}},
		{EventTime: now.Add(-20 * time.Minute), EventSource: audit.SourceKMS, EventName: "GenerateDataKey", SourceIPAddress: "127.0.0.1",
			UserIdentity:      audit.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/ingest", AccessKeyID: "AKIAINGEST"},
			RequestParameters: map[string]any{"KeyId": "alias/aws/kinesisvideo"}, ResponseElements: map[string]any{"Plaintext": []byte("secret")}},
		{EventTime: now.Add(-10 * time.Minute), EventSource: audit.SourceSTS, EventName: "AssumeRole", SourceIPAddress: "192.0.2.9", ErrorCode: "InvalidSignatureException",
			UserIdentity: audit.UserIdentity{Type: audit.IdentityUnknown, AccessKeyID: "AKIABAD"}},
	}
	for _, r := range recs {
		require.NoError(t, l.Append(r))
	}
	require.NoError(t, l.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	return path, lines[:len(lines)-1]
}

func TestAuditVerifyIntactLog(t *testing.T) {
	path, _ := writeAuditLog(t)
	stdout, stderr, code := runCamstorm(t, "audit", "verify", path)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	require.Equal(t, 1, strings.Count(stdout, "\n"), "one line: %q", stdout)
	require.Contains(t, stdout, "4 records, chain intact, head seq 4 sha256:")
	require.Contains(t, stdout, "checkpoint seq 4")
}

func TestAuditVerifyNamesTheBrokenLine(t *testing.T) {
	cases := []struct {
		name   string
		change func(lines [][]byte) [][]byte
		args   []string
		want   []string
	}{
		{"edited line", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte("GenerateDataKey"), []byte("GenerateDataKex"), 1)
			return l
		}, nil, []string{"line 3", "hash", "edited"}},
		{"deleted first line", func(l [][]byte) [][]byte { return l[1:] }, nil, []string{"line 1", "sequence 2, want 1"}},
		{"deleted middle line", func(l [][]byte) [][]byte { return append(l[:1:1], l[2:]...) }, nil, []string{"line 2", "sequence 3, want 2"}},
		{"deleted last line", func(l [][]byte) [][]byte { return l[:3] }, nil, []string{"line 4", "truncated", "cut from the end"}},
		{"swapped lines", func(l [][]byte) [][]byte { return [][]byte{l[0], l[2], l[1], l[3]} }, nil, []string{"line 2", "sequence"}},
		{"torn last line", func(l [][]byte) [][]byte { l[3] = l[3][:30]; return l }, nil, []string{"line 4", "torn", "no newline"}},
		{"deleted last line, offsite checkpoint", func(l [][]byte) [][]byte { return l[:3] }, []string{"--head", "OFFSITE"}, []string{"line 4", "truncated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, lines := writeAuditLog(t)
			offsite := filepath.Join(t.TempDir(), "copy.head")
			cp, err := os.ReadFile(audit.HeadPath(path))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(offsite, cp, 0o600))
			require.NoError(t, os.WriteFile(path, bytes.Join(tc.change(lines), nil), 0o600))
			args := []string{"audit", "verify", path}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "OFFSITE", offsite))
			}
			if len(tc.args) > 0 {
				require.NoError(t, os.Remove(audit.HeadPath(path)), "the attacker removed the local checkpoint")
			}
			stdout, stderr, code := runCamstorm(t, args...)
			require.Equal(t, exitVerifyFail, code, "camstorm %v: stdout %s stderr %s", args, stdout, stderr)
			require.Empty(t, stdout)
			for _, w := range tc.want {
				require.Contains(t, stderr, w)
			}
		})
	}
}

func TestAuditVerifyWithoutCheckpointMissesACutAtTheEnd(t *testing.T) {
	path, lines := writeAuditLog(t)
	require.NoError(t, os.WriteFile(path, bytes.Join(lines[:3], nil), 0o600))
	stdout, stderr, code := runCamstorm(t, "audit", "verify", "--no-head", path)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "3 records, chain intact")
	require.Contains(t, stdout, "no checkpoint")
}

func TestAuditVerifyErrors(t *testing.T) {
	path, _ := writeAuditLog(t)
	garbled := filepath.Join(t.TempDir(), "garbled.head")
	require.NoError(t, os.WriteFile(garbled, []byte("{}"), 0o600))
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit", "verify"}, exitUsage, "takes 1 arguments"},
		{[]string{"audit", "verify", filepath.Join(t.TempDir(), "missing.log")}, exitFailure, "no such file"},
		{[]string{"audit", "verify", path, "--head", filepath.Join(t.TempDir(), "missing.head")}, exitFailure, "no such file"},
		{[]string{"audit", "verify", path, "--head", garbled}, exitVerifyFail, "malformed checkpoint"},
		{[]string{"audit", "verify", path, "--head", garbled, "--no-head"}, exitUsage, "exclude each other"},
	}
	for _, tc := range cases {
		_, stderr, code := runCamstorm(t, tc.args...)
		require.Equal(t, tc.code, code, "camstorm %v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "camstorm %v", tc.args)
	}
}

func TestAuditQueryTable(t *testing.T) {
	path, _ := writeAuditLog(t)
	stdout, stderr, code := runCamstorm(t, "audit", "query", path, "--denied")
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, "header and two rows: %s", stdout)
	require.Regexp(t, `^SEQ\s+TIME\s+SOURCE\s+EVENT\s+PRINCIPAL\s+ACCESS KEY\s+IP\s+RESULT\s+RESOURCES`, lines[0])
	require.Regexp(t, `^2\s+\S+Z\s+kinesisvideo\s+PutMedia\s+arn:aws:sts::111122223333:assumed-role/camera/cam-2\s+ASIACAM2\s+10\.0\.0\.2\s+AccessDeniedException\s+arn:aws:kinesisvideo:`, lines[1])
	require.Regexp(t, `^4\s+.*sts\s+AssumeRole\s+\(Unknown\)\s+AKIABAD\s+192\.0\.2\.9\s+InvalidSignatureException\s+-$`, lines[2])
	require.Contains(t, stderr, "2 records matched")
}

func TestAuditQueryFiltersAndJSON(t *testing.T) {
	path, _ := writeAuditLog(t)
	cases := []struct {
		args []string
		seqs []uint64
	}{
		{nil, []uint64{1, 2, 3, 4}},
		{[]string{"--since", "1h"}, []uint64{2, 3, 4}},
		{[]string{"--since", "1h", "--until", "15m"}, []uint64{2, 3}},
		{[]string{"--event", "PutMedia,AssumeRole"}, []uint64{1, 2, 4}},
		{[]string{"--source", "kms.amazonaws.com"}, []uint64{3}},
		{[]string{"--principal", "arn:aws:sts::111122223333:assumed-role/camera/"}, []uint64{1, 2}},
		{[]string{"--principal", "arn:aws:*:user/*"}, []uint64{3}},
		{[]string{"--access-key", "ASIACAM1"}, []uint64{1}},
		{[]string{"--ip", "10.0.0.0/8"}, []uint64{1, 2}},
		{[]string{"--error", "*"}, []uint64{2, 4}},
		{[]string{"--resource", "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/", "--denied"}, []uint64{2}},
	}
	for _, tc := range cases {
		args := append([]string{"audit", "query", path, "--json"}, tc.args...)
		stdout, stderr, code := runCamstorm(t, args...)
		require.Equal(t, exitOK, code, "camstorm %v: %s", args, stderr)
		var seqs []uint64
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if line == "" {
				continue
			}
			var r audit.Record
			require.NoError(t, json.Unmarshal([]byte(line), &r), "camstorm %v: line %q", args, line)
			seqs = append(seqs, r.Chain.Seq)
			require.NotContains(t, line, "c2VjcmV0", "no secret in the output")
		}
		require.Equal(t, tc.seqs, seqs, "camstorm %v", args)
	}
}

func TestAuditQueryUsageErrors(t *testing.T) {
	path, _ := writeAuditLog(t)
	for _, args := range [][]string{
		{"audit", "query", path, "--ip", "10.0.0.300"},
		{"audit", "query", path, "--since", "yesterday"},
		{"audit", "query", path, "--since", "1h", "--until", "2h"},
		{"audit", "query"},
		{"audit", "query", path, "--bogus"},
	} {
		_, stderr, code := runCamstorm(t, args...)
		require.Equal(t, exitUsage, code, "camstorm %v: %s", args, stderr)
	}
}

func TestAuditQueryMalformedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	require.NoError(t, os.WriteFile(path, []byte("not a record\n"), 0o600))
	_, stderr, code := runCamstorm(t, "audit", "query", path)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "line 1")
}

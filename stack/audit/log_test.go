package audit

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)

// testRecord is a realistic KMS record; i varies it.
func testRecord(i int) Record {
	return Record{
		UserIdentity: UserIdentity{Type: "AssumedRole", PrincipalID: "camera:cam-1",
			ARN: "arn:aws:sts::111122223333:assumed-role/camera/cam-1", AccountID: "111122223333", AccessKeyID: fmt.Sprintf("ASIA%016d", i)},
		EventTime:          t0.Add(time.Duration(i) * time.Second),
		EventSource:        SourceKMS,
		EventName:          "GenerateDataKey",
		AWSRegion:          "us-east-1",
		SourceIPAddress:    "127.0.0.1",
		UserAgent:          "aws-sdk-go-v2/1.48.0",
		RequestParameters:  map[string]any{"keyId": "alias/aws/kinesisvideo", "keySpec": "AES_256", "encryptionContext": map[string]string{"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1"}},
		RequestID:          fmt.Sprintf("req-%d", i),
		EventID:            fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		ReadOnly:           true,
		Resources:          []Resource{{ARN: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", AccountID: "111122223333", Type: ResourceKMSKey}},
		ManagementEvent:    false,
		RecipientAccountID: "111122223333",
		EventCategory:      CategoryData,
	}
}

func openLog(t testing.TB, path string) *Log {
	t.Helper()
	l, err := Open(path, Options{Clock: func() time.Time { return t0 }, FlushInterval: time.Hour})
	require.NoError(t, err)
	return l
}

// writeLog writes n records to a new log and returns its path and lines.
func writeLog(t testing.TB, n int) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	for i := range n {
		require.NoError(t, l.Append(testRecord(i)))
	}
	require.NoError(t, l.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	return path, lines[:len(lines)-1]
}

func verifyFile(t *testing.T, path string, withCheckpoint bool) (Report, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	if !withCheckpoint {
		return Verify(f)
	}
	cp, err := ReadHead(HeadPath(path))
	require.NoError(t, err)
	return Verify(f, cp)
}

func TestAppendThenVerifyIsIntactAndLinesAreCloudTrailRecords(t *testing.T) {
	path, lines := writeLog(t, 5)
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(5), rep.Records)
	require.Equal(t, 5, rep.Lines)
	require.Equal(t, uint64(5), rep.Head.Seq)
	require.Contains(t, rep.String(), "5 records, chain intact, head seq 5 sha256:")
	require.Contains(t, rep.String(), "checkpoint seq 5")

	require.True(t, bytes.HasPrefix(lines[0], []byte(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole"`)), "%s", lines[0])
	require.Contains(t, string(lines[0]), `"eventTime":"2026-11-27T04:00:00Z"`)
	require.Contains(t, string(lines[0]), `"auditChain":{"seq":1,"prev":"`+GenesisHash+`","hash":"`)
	require.Contains(t, string(lines[1]), `"auditChain":{"seq":2,`)
}

func TestVerifyEmptyLogIsIntact(t *testing.T) {
	rep, err := Verify(strings.NewReader(""))
	require.NoError(t, err)
	require.Equal(t, uint64(0), rep.Records)
	require.Equal(t, GenesisHash, rep.Head.Hash)
}

// TestTamperMatrix: every kind of change to a 5-record log is detected at
// the line where it happened, with or without the checkpoint.
func TestTamperMatrix(t *testing.T) {
	_, lines := writeLog(t, 5)
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	edit := func(line []byte, old, new string) []byte {
		require.Contains(t, string(line), old)
		return bytes.Replace(line, []byte(old), []byte(new), 1)
	}
	// forged is a well-formed line for seq 3 chained onto record 2, as
	// someone who knows the scheme would write it.
	forged := func() []byte {
		p, why := parseLine(bytes.TrimSuffix(lines[1], []byte("\n")))
		require.Empty(t, why)
		rec := bytes.Replace(lines[2][:bytes.Index(lines[2], linkOpen)], []byte("GenerateDataKey"), []byte("ScheduleKeyDeletion"), 1)
		sum := chainHash(newSHA256(), p.sum, 3, rec)
		return appendLine(nil, rec, 3, p.sum, sum)
	}()
	cases := []struct {
		name       string
		log        []byte
		checkpoint bool
		kind       BreakKind
		line       int
	}{
		{"edit a byte of eventName on line 3", join(lines[0], lines[1], edit(lines[2], "GenerateDataKey", "GenerateDataKez"), lines[3], lines[4]), false, BreakHash, 3},
		{"edit the source IP on line 1", join(edit(lines[0], "127.0.0.1", "127.0.0.2"), lines[1], lines[2], lines[3], lines[4]), false, BreakHash, 1},
		{"edit the seq on line 2", join(lines[0], edit(lines[1], `"seq":2`, `"seq":3`), lines[2], lines[3], lines[4]), false, BreakSequence, 2},
		{"pad the seq on line 2", join(lines[0], edit(lines[1], `"seq":2`, `"seq":02`), lines[2], lines[3], lines[4]), false, BreakMalformed, 2},
		{"upper-case the hash on line 4", join(lines[0], lines[1], lines[2], bytes.ToUpper(lines[3]), lines[4]), false, BreakMalformed, 4},
		{"space inside the record on line 5", join(lines[0], lines[1], lines[2], lines[3], edit(lines[4], `"eventName":`, `"eventName": `)), false, BreakHash, 5},
		{"CRLF on line 2", join(lines[0], edit(lines[1], "}}\n", "}}\r\n"), lines[2], lines[3], lines[4]), false, BreakMalformed, 2},
		{"delete the first line", join(lines[1], lines[2], lines[3], lines[4]), false, BreakSequence, 1},
		{"delete a middle line", join(lines[0], lines[1], lines[3], lines[4]), false, BreakSequence, 3},
		{"delete the last line", join(lines[0], lines[1], lines[2], lines[3]), true, BreakTruncated, 5},
		{"delete the last two lines", join(lines[0], lines[1], lines[2]), true, BreakTruncated, 4},
		{"swap lines 2 and 3", join(lines[0], lines[2], lines[1], lines[3], lines[4]), false, BreakSequence, 2},
		{"duplicate line 2", join(lines[0], lines[1], lines[1], lines[2], lines[3], lines[4]), false, BreakSequence, 3},
		{"insert a forged line 3", join(lines[0], lines[1], forged, lines[2], lines[3], lines[4]), false, BreakSequence, 4},
		{"replace line 3 by a forged one", join(lines[0], lines[1], forged, lines[3], lines[4]), false, BreakPrev, 4},
		{"insert a blank line", join(lines[0], []byte("\n"), lines[1], lines[2], lines[3], lines[4]), false, BreakMalformed, 2},
		{"insert a plain CloudTrail record", join(lines[0], []byte(`{"eventVersion":"1.08","eventName":"Decrypt"}`+"\n"), lines[1], lines[2], lines[3], lines[4]), false, BreakMalformed, 2},
		{"truncate mid last line", join(lines[0], lines[1], lines[2], lines[3], lines[4][:40]), false, BreakTorn, 5},
		{"truncate the last newline", join(lines[0], lines[1], lines[2], lines[3], lines[4][:len(lines[4])-1]), false, BreakTorn, 5},
		{"append garbage after the last line", join(lines[0], lines[1], lines[2], lines[3], lines[4], []byte("x")), false, BreakTorn, 6},
		{"rewrite everything after the checkpoint", join(lines[0], lines[1], lines[2], lines[3], forgedTail(t, lines[3], 5)), true, BreakCheckpoint, 5},
	}
	cp := Head{Seq: 5, Hash: mustHash(t, lines[4])}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rep Report
			var err error
			if tc.checkpoint {
				rep, err = Verify(bytes.NewReader(tc.log), cp)
			} else {
				rep, err = Verify(bytes.NewReader(tc.log))
			}
			var brk *Break
			require.ErrorAs(t, err, &brk, "log:\n%s", tc.log)
			require.ErrorIs(t, err, ErrChainBroken)
			require.Equal(t, tc.kind, brk.Kind, "reason: %s", brk.Reason)
			require.Equal(t, tc.line, brk.Line, "reason: %s", brk.Reason)
			require.Equal(t, uint64(tc.line-1), rep.Records, "records intact before the break")
			require.Same(t, rep.Break, brk)
			require.NotEmpty(t, brk.Reason)
		})
	}
}

func mustHash(t *testing.T, line []byte) string {
	p, why := parseLine(bytes.TrimSuffix(line, []byte("\n")))
	require.Empty(t, why)
	return fmt.Sprintf("%x", p.sum)
}

// forgedTail is a validly chained record seq after the line prev.
func forgedTail(t *testing.T, prev []byte, seq uint64) []byte {
	p, why := parseLine(bytes.TrimSuffix(prev, []byte("\n")))
	require.Empty(t, why)
	body := []byte(`{"eventVersion":"1.08","eventName":"Forged"`)
	return appendLine(nil, body, seq, p.sum, chainHash(newSHA256(), p.sum, seq, body))
}

func TestVerifyRejectsOverlongLineWithoutReadingItAll(t *testing.T) {
	big := bytes.Repeat([]byte("a"), MaxLineBytes+10)
	rep, err := Verify(bytes.NewReader(big))
	var brk *Break
	require.ErrorAs(t, err, &brk)
	require.Equal(t, BreakMalformed, brk.Kind)
	require.Equal(t, 1, brk.Line)
	require.Contains(t, brk.Reason, "longer than")
	require.Equal(t, uint64(0), rep.Records)
}

func TestConcurrentAppendsFormOneChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{FlushInterval: 5 * time.Millisecond, BufferSize: 4096})
	require.NoError(t, err)
	const goroutines, each = 16, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				rec := testRecord(i)
				rec.EventID = fmt.Sprintf("g%d-%d", g, i)
				if err := l.Append(rec); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(goroutines*each), rep.Records)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	seen := map[string]bool{}
	require.NoError(t, Query(f, Filter{}, func(r Record) error {
		require.False(t, seen[r.EventID], "record %s twice", r.EventID)
		seen[r.EventID] = true
		return nil
	}))
	require.Len(t, seen, goroutines*each)
}

func TestReopenContinuesTheChain(t *testing.T) {
	path, _ := writeLog(t, 10)
	l := openLog(t, path)
	require.Equal(t, uint64(10), l.Resumed().Records)
	require.Nil(t, l.Resumed().Torn)
	for i := range 5 {
		require.NoError(t, l.Append(testRecord(100+i)))
	}
	require.Equal(t, uint64(15), l.Head().Seq)
	require.NoError(t, l.Close())
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(15), rep.Records)
	cp, err := ReadHead(HeadPath(path))
	require.NoError(t, err)
	require.Equal(t, rep.Head.Hash, cp.Hash)
	require.Equal(t, t0, cp.Time)
}

func TestReopenMovesATornLastLineAsideAndSaysSo(t *testing.T) {
	path, lines := writeLog(t, 3)
	// A crash while writing record 4: part of its line reached the disk.
	torn := []byte(`{"eventVersion":"1.08","userIdentity":{"type":"Assu`)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(torn)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var logged []string
	l, err := Open(path, Options{FlushInterval: time.Hour, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	require.NoError(t, err)
	res := l.Resumed()
	require.NotNil(t, res.Torn)
	require.Equal(t, 4, res.Torn.Line)
	require.Equal(t, path+".torn.4", res.TornFile)
	require.Len(t, logged, 1)
	require.Contains(t, logged[0], "line 4")
	require.Contains(t, logged[0], res.TornFile)
	saved, err := os.ReadFile(res.TornFile)
	require.NoError(t, err)
	require.Equal(t, torn, saved)

	require.NoError(t, l.Append(testRecord(9)))
	require.NoError(t, l.Close())
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(4), rep.Records)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, bytes.Join(lines, nil)), "the first three lines are untouched")
}

func TestOpenRefusesABrokenLog(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(path string, lines [][]byte)
		want   string
	}{
		{"edited middle line", func(path string, lines [][]byte) {
			lines[1] = bytes.Replace(lines[1], []byte("GenerateDataKey"), []byte("GenerateDataKex"), 1)
			require.NoError(t, os.WriteFile(path, bytes.Join(lines, nil), 0o600))
		}, "line 2"},
		{"last line deleted", func(path string, lines [][]byte) {
			require.NoError(t, os.WriteFile(path, bytes.Join(lines[:3], nil), 0o600))
		}, "cut from the end"},
		{"last line cut mid-way below the checkpoint", func(path string, lines [][]byte) {
			require.NoError(t, os.WriteFile(path, append(bytes.Join(lines[:3], nil), lines[3][:20]...), 0o600))
		}, "checkpoint names record 4"},
		{"log deleted", func(path string, _ [][]byte) { require.NoError(t, os.Remove(path)) }, "missing"},
		{"checkpoint garbled", func(path string, _ [][]byte) {
			require.NoError(t, os.WriteFile(HeadPath(path), []byte("{"), 0o600))
		}, "malformed checkpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, lines := writeLog(t, 4)
			tc.mutate(path, lines)
			before, _ := os.ReadFile(path)
			_, err := Open(path, Options{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			after, _ := os.ReadFile(path)
			require.Equal(t, before, after, "a refused log is left as it was")
		})
	}
}

func TestFlushMakesRecordsDurableAndCheckpointed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	defer l.Close()
	require.NoError(t, l.Append(testRecord(1)))
	_, err := ReadHead(HeadPath(path))
	require.ErrorIs(t, err, fs.ErrNotExist, "no checkpoint before the first flush")
	require.NoError(t, l.Flush())
	cp, err := ReadHead(HeadPath(path))
	require.NoError(t, err)
	require.Equal(t, l.Head().Seq, cp.Seq)
	require.Equal(t, l.Head().Hash, cp.Hash)
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(1), rep.Records)
}

func TestFlushIntervalWritesWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{FlushInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.Append(testRecord(1)))
	require.Eventually(t, func() bool {
		cp, err := ReadHead(HeadPath(path))
		return err == nil && cp.Seq == 1
	}, 5*time.Second, 5*time.Millisecond)
}

func TestAppendErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	big := testRecord(1)
	big.ErrorMessage = strings.Repeat("x", MaxRecordBytes)
	require.ErrorIs(t, l.Append(big), ErrRecordTooLarge)
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Append(testRecord(2)), ErrClosed)
	require.NoError(t, l.Close(), "second Close")
}

func TestAppendAfterAWriteErrorKeepsFailing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{FlushInterval: time.Hour, BufferSize: 16})
	require.NoError(t, err)
	require.NoError(t, l.f.Close()) // the disk goes away
	err = l.Append(testRecord(1))
	require.ErrorContains(t, err, "writing "+path)
	require.Equal(t, err, l.Append(testRecord(2)), "sticky")
	require.Equal(t, err, l.Flush())
	require.Error(t, l.Close())
}

func TestAppendFillsDefaultsAndRedacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	require.NoError(t, l.Append(Record{EventName: "Decrypt", RequestParameters: map[string]any{"CiphertextBlob": []byte{1, 2}}, Chain: &Link{Seq: 99}}))
	require.NoError(t, l.Close())
	var got []Record
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, Query(f, Filter{}, func(r Record) error { got = append(got, r); return nil }))
	require.Len(t, got, 1)
	require.Equal(t, EventVersion, got[0].EventVersion)
	require.Equal(t, EventTypeAPI, got[0].EventType)
	require.Equal(t, t0, got[0].EventTime)
	require.Equal(t, Hidden, got[0].RequestParameters["CiphertextBlob"])
	require.Equal(t, uint64(1), got[0].Chain.Seq)
}

// BenchmarkAppend measures appends from many goroutines, including JSON
// encoding, hashing and the periodic fsync.
func BenchmarkAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.log")
	l, err := Open(path, Options{})
	require.NoError(b, err)
	rec := testRecord(1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	require.NoError(b, l.Close())
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestEveryByteEditIsDetectedOnItsLine changes each byte of a small log in
// two ways and expects the break on the line that holds the byte.
func TestEveryByteEditIsDetectedOnItsLine(t *testing.T) {
	_, lines := writeLog(t, 3)
	valid := bytes.Join(lines, nil)
	lineOf := make([]int, len(valid))
	for i, n := 0, 1; i < len(valid); i++ {
		lineOf[i] = n
		if valid[i] == '\n' {
			n++
		}
	}
	for i := range valid {
		for _, b := range []byte{valid[i] ^ 0x01, '\n'} {
			if b == valid[i] {
				continue
			}
			changed := bytes.Clone(valid)
			changed[i] = b
			_, err := Verify(bytes.NewReader(changed))
			var brk *Break
			require.ErrorAs(t, err, &brk, "byte %d set to %q", i, b)
			require.Equal(t, lineOf[i], brk.Line, "byte %d set to %q: %v", i, b, brk)
		}
	}
}

func TestTheSameRecordTornTwiceKeepsBothPieces(t *testing.T) {
	path, _ := writeLog(t, 2)
	for i, want := range []string{path + ".torn.3", path + ".torn.3.2"} {
		piece := []byte(fmt.Sprintf(`{"eventVersion":"1.08","crash":%d`, i))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.Write(piece)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		l, err := Open(path, Options{})
		require.NoError(t, err)
		require.Equal(t, want, l.Resumed().TornFile)
		require.NoError(t, l.Close())
		saved, err := os.ReadFile(want)
		require.NoError(t, err)
		require.Equal(t, piece, saved)
	}
	rep, err := verifyFile(t, path, true)
	require.NoError(t, err)
	require.Equal(t, uint64(2), rep.Records)
}

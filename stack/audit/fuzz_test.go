package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzVerify: arbitrary bytes never panic Verify or Query, and a change to
// a valid log is either detected or no change at all. Without the
// checkpoint the only undetectable change is cutting whole lines off the
// end; with it, none.
func FuzzVerify(f *testing.F) {
	path := filepath.Join(f.TempDir(), "audit.log")
	l, err := Open(path, Options{Clock: func() time.Time { return t0 }, FlushInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	// Small records keep the fuzzer's minimisation of new inputs quick.
	for i := range 3 {
		rec := Record{EventSource: SourceKMS, EventName: "Decrypt", SourceIPAddress: "10.0.0.1",
			UserIdentity: UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::1:user/u", AccessKeyID: "AKID"}}
		if i == 1 {
			rec.ErrorCode = "AccessDeniedException"
		}
		if err := l.Append(rec); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	cp, err := ReadHead(HeadPath(path))
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.SplitAfter(valid, []byte("\n"))
	// Inputs stay small (the fuzzer's minimisation is quadratic in their
	// length): data is arbitrary bytes; at, cut and insert describe a
	// change to the valid log.
	f.Add([]byte{}, uint16(0), uint16(0), []byte{})
	f.Add(lines[0], uint16(10), uint16(1), []byte("x"))
	f.Add([]byte("\n"), uint16(len(lines[0])), uint16(len(lines[1])), []byte{})
	f.Add(lines[1], uint16(0), uint16(len(lines[0])), []byte{})
	f.Add([]byte(`{"eventVersion":"1.08","auditChain":{"seq":1,"prev":"`+GenesisHash+`","hash":"`+GenesisHash+`"}}`+"\n"), uint16(len(valid)-2), uint16(2), []byte{})
	f.Add([]byte(`{"a":1}`), uint16(bytes.Index(valid, []byte(`"seq":2`))+6), uint16(1), []byte("3"))
	f.Add([]byte("x"), uint16(len(valid)), uint16(0), lines[2])

	f.Fuzz(func(t *testing.T, data []byte, at, cut uint16, insert []byte) {
		checkArbitrary(t, data, valid, cp)
		pos := min(int(at), len(valid))
		end := min(pos+int(cut), len(valid))
		changed := append(append(append([]byte{}, valid[:pos]...), insert...), valid[end:]...)
		checkArbitrary(t, changed, valid, cp)
	})
}

// checkArbitrary: Verify never panics, gives a consistent report, and
// passes only the valid log (or, without the checkpoint, a cut of it at a
// line end); Query never panics.
func checkArbitrary(t *testing.T, data, valid []byte, cp Head) {
	rep, err := Verify(bytes.NewReader(data))
	var brk *Break
	switch {
	case err == nil:
		if len(data) > 0 && (!bytes.HasPrefix(valid, data) || data[len(data)-1] != '\n') {
			t.Fatalf("a changed log verified (%d records):\n%q", rep.Records, data)
		}
	case !errors.As(err, &brk):
		t.Fatalf("Verify returned %v, not a *Break, for in-memory input", err)
	case brk.Line < 1 || brk.Line > bytes.Count(data, []byte("\n"))+1 || int(rep.Records) != brk.Line-1 || brk.Reason == "":
		t.Fatalf("break %+v inconsistent with report %+v for %q", brk, rep, data)
	}
	_, err = Verify(bytes.NewReader(data), cp)
	if err == nil && !bytes.Equal(data, valid) {
		t.Fatalf("a changed log verified against the checkpoint:\n%q", data)
	}
	if bytes.Equal(data, valid) && err != nil {
		t.Fatalf("the valid log failed: %v", err)
	}
	_ = Query(bytes.NewReader(data), Filter{Denied: true, Principal: "arn:*"}, func(Record) error { return nil })
}

package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// chainedLog writes n records chained as docs/IDENTITY.md describes, by
// hand: the test's own writer, so verifyChain is checked against the
// documented format rather than against itself.
func chainedLog(n int) []byte {
	var out bytes.Buffer
	prev := make([]byte, 32)
	for seq := 1; seq <= n; seq++ {
		body := fmt.Sprintf(`{"eventName":"DescribeStream","requestParameters":{"StreamName":"s%d"}`, seq)
		var s [8]byte
		binary.BigEndian.PutUint64(s[:], uint64(seq))
		h := sha256.New()
		h.Write(prev)
		h.Write(s[:])
		h.Write([]byte(body))
		sum := h.Sum(nil)
		fmt.Fprintf(&out, `%s,"auditChain":{"seq":%d,"prev":"%s","hash":"%s"}}`+"\n", body, seq, hex.EncodeToString(prev), hex.EncodeToString(sum))
		prev = sum
	}
	return out.Bytes()
}

func TestVerifyChain(t *testing.T) {
	good := chainedLog(5)
	sum, brk := verifyChain(good)
	if brk != nil || sum.Records != 5 || sum.FirstSeq != 1 || sum.LastSeq != 5 {
		t.Fatalf("intact log: %+v, %v; want 5 records seq 1…5", sum, brk)
	}
	lines := strings.SplitAfter(string(good), "\n")[:5]
	for _, tc := range []struct {
		name     string
		log      string
		wantLine int
	}{
		{"line 3 deleted", lines[0] + lines[1] + lines[3] + lines[4], 3},
		{"first line deleted", strings.Join(lines[1:], ""), 1},
		{"line 2 edited", lines[0] + strings.Replace(lines[1], "s2", "s9", 1) + strings.Join(lines[2:], ""), 2},
		{"lines 4 and 5 swapped", strings.Join(lines[:3], "") + lines[4] + lines[3], 4},
		{"line 2 repeated", lines[0] + lines[1] + lines[1] + strings.Join(lines[2:], ""), 3},
		{"hash of line 1 replaced", strings.Replace(lines[0], `"hash":"`, `"hash":"0`, 1)[:len(lines[0])] + "\n" + strings.Join(lines[1:], ""), 1},
		{"torn last line", string(good[:len(good)-10]), 5},
		{"not JSON", "garbage\n", 1},
		{"no link", `{"eventName":"x"}` + "\n", 1},
	} {
		_, brk := verifyChain([]byte(tc.log))
		if brk == nil || brk.Line != tc.wantLine {
			t.Errorf("%s: break %v; want one at line %d", tc.name, brk, tc.wantLine)
		}
	}
	if sum, brk := verifyChain(nil); brk != nil || sum.Records != 0 {
		t.Errorf("empty log: %+v, %v; want no records and no break", sum, brk)
	}
}

func TestMatchRefusalsUsesEachRecordOnce(t *testing.T) {
	rec := func(name, code, key, raw string) auditRecord {
		r := auditRecord{EventName: name, ErrorCode: code, raw: raw}
		r.UserIdentity.AccessKeyID = key
		return r
	}
	recs := []auditRecord{
		rec("DescribeStream", "InvalidSignatureException", "AKIA1", `..."s1"...`),
		rec("DescribeStream", "", "AKIA1", `..."s1"...`), // allowed: never a refusal's record
		rec("PutMedia", "InvalidSignatureException", "AKIA1", `..."s1"...`),
	}
	want := refusal{Action: "DescribeStream", Code: "InvalidSignatureException", Marker: "s1", AccessKeyID: "AKIA1"}
	found, missing := matchRefusals(recs, []refusal{want, want})
	if len(found) != 1 || len(missing) != 1 || missing[0] != 1 {
		t.Fatalf("two refusals, one record: found %v, missing %v; want the first found, the second missing", found, missing)
	}
	other := want
	other.AccessKeyID = "AKIA2"
	if _, missing := matchRefusals(recs, []refusal{other}); len(missing) != 1 {
		t.Errorf("a record under another key matched")
	}
	anyAction := refusal{Marker: "s1"}
	if found, _ := matchRefusals(recs, []refusal{anyAction}); len(found) != 1 {
		t.Errorf("a refusal of any action found no record")
	}
}

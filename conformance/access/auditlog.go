package access

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
)

// auditRecord is the part of a CloudTrail-shaped record the suite reads.
type auditRecord struct {
	EventTime    time.Time `json:"eventTime"`
	EventSource  string    `json:"eventSource"`
	EventName    string    `json:"eventName"`
	ErrorCode    string    `json:"errorCode"`
	ErrorMessage string    `json:"errorMessage"`
	SourceIP     string    `json:"sourceIPAddress"`
	UserIdentity struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
	} `json:"userIdentity"`
	Chain struct {
		Seq uint64 `json:"seq"`
	} `json:"auditChain"`

	log  string // which log (process) it came from
	line int
	raw  string
}

func (r auditRecord) String() string {
	who := r.UserIdentity.ARN
	if who == "" {
		who = r.UserIdentity.Type
	}
	if r.UserIdentity.AccessKeyID != "" {
		who += " key " + r.UserIdentity.AccessKeyID
	}
	out := fmt.Sprintf("%s line %d seq %d: %s %s by %s from %s", r.log, r.line, r.Chain.Seq, r.EventSource, r.EventName, who, r.SourceIP)
	if r.ErrorCode != "" {
		out += " error " + r.ErrorCode
	}
	return out
}

// readAudit returns every record of every log the target gives, in log
// name then line order. A line that does not parse is skipped (the chain
// case judges the lines themselves).
func readAudit(ctx context.Context, tg *conformance.Target) ([]auditRecord, map[string][]byte, error) {
	logs, err := tg.Audit.AuditLogs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the target's audit logs: %w", err)
	}
	names := make([]string, 0, len(logs))
	for name := range logs {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []auditRecord
	for _, name := range names {
		for i, line := range bytes.Split(logs[name], []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var r auditRecord
			if json.Unmarshal(line, &r) != nil {
				continue
			}
			r.log, r.line, r.raw = name, i+1, string(line)
			out = append(out, r)
		}
	}
	return out, logs, nil
}

// refusal is a request the target refused, as its audit record must show
// it: the action (eventName), the error code, a marker only this request
// carried (a unique stream or thing name), and who made it.
type refusal struct {
	// What describes the request for messages, e.g. "forged PutMedia".
	What string
	// Action is the API operation, the record's eventName; empty accepts
	// any (a service whose operation names differ between targets).
	Action string
	// Code is the error code the caller got; the record must carry it.
	// Empty accepts any error code.
	Code string
	// EventSource, when set, is the record's eventSource (the service
	// that refused, e.g. the IoT credential provider).
	EventSource string
	// Marker is a string only this request's record contains.
	Marker string
	// AccessKeyID is the key the request was signed with or claimed;
	// empty for an unsigned request.
	AccessKeyID string
	// Principal, when set, is a substring the record's userIdentity.arn
	// must contain (the caller authenticated, so the record names it).
	Principal string
}

// auditWait bounds how long a record may take to reach the log (a
// PutMedia session's record is written when the session ends).
const auditWait = 4 * time.Second

// expectAudited checks that every refusal has its own audit record, with
// the caller's identity, the action and the error; each record matches one
// refusal only. Missing records fail the case; found ones are evidence.
// It does nothing when the target shows no audit trail. It returns the
// records found, by the refusal's index.
func expectAudited(ctx context.Context, t *conformance.T, refusals ...refusal) map[int]auditRecord {
	if !t.Target.Has(conformance.NeedAudit) || len(refusals) == 0 {
		return nil
	}
	deadline := time.Now().Add(auditWait)
	for {
		recs, _, err := readAudit(ctx, t.Target)
		t.Must(err, "reading the audit logs")
		found, missing := matchRefusals(recs, refusals)
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			for i, r := range refusals {
				if rec, ok := found[i]; ok {
					t.Evidence("audit", "%s: %s", r.What, rec)
				}
			}
			for _, i := range missing {
				r := refusals[i]
				t.Fail("the refused %s is not in the audit log: no record of %s with error %s naming %s%s (waited %v; %d records read)",
					r.What, orAny(r.Action), orAny(r.Code), r.Marker, whoFor(r), auditWait, len(recs))
			}
			return found
		}
		select {
		case <-ctx.Done():
		case <-time.After(150 * time.Millisecond):
		}
	}
}

func orAny(code string) string {
	if code == "" {
		return "(any)"
	}
	return code
}

func whoFor(r refusal) string {
	var parts []string
	if r.AccessKeyID != "" {
		parts = append(parts, "access key "+r.AccessKeyID)
	}
	if r.Principal != "" {
		parts = append(parts, "caller "+r.Principal)
	}
	if len(parts) == 0 {
		return ""
	}
	return " with " + strings.Join(parts, " and ")
}

// matchRefusals pairs refusals with records, each record used once, and
// returns the pairs and the refusals left without a record.
func matchRefusals(recs []auditRecord, refusals []refusal) (map[int]auditRecord, []int) {
	used := make([]bool, len(recs))
	found := map[int]auditRecord{}
	var missing []int
	for i, want := range refusals {
		ok := false
		for j, rec := range recs {
			if used[j] || !recordShows(rec, want) {
				continue
			}
			used[j], found[i], ok = true, rec, true
			break
		}
		if !ok {
			missing = append(missing, i)
		}
	}
	return found, missing
}

// recordShows reports whether rec is the audit record of the refusal.
func recordShows(rec auditRecord, want refusal) bool {
	if want.Action != "" && rec.EventName != want.Action || rec.ErrorCode == "" {
		return false
	}
	if want.Code != "" && rec.ErrorCode != want.Code {
		return false
	}
	if want.EventSource != "" && rec.EventSource != want.EventSource {
		return false
	}
	if !strings.Contains(rec.raw, want.Marker) {
		return false
	}
	if want.AccessKeyID != "" && rec.UserIdentity.AccessKeyID != want.AccessKeyID {
		return false
	}
	if want.Principal != "" && !strings.Contains(rec.UserIdentity.ARN, want.Principal) {
		return false
	}
	return true
}

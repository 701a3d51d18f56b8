package report

import (
	"testing"
)

func TestCompare(t *testing.T) {
	lat := func(p99 float64) MetricRow {
		return MetricRow{Name: "camera_ack_latency{ack:persisted}", Type: "trend", Unit: "ms", Values: map[string]float64{"count": 100, "p(99)": p99, "avg": 50}}
	}
	ctr := func(name string, count, rate float64) MetricRow {
		return MetricRow{Name: name, Type: "counter", Values: map[string]float64{"count": count, "rate": rate}}
	}
	failed := func(rate float64) MetricRow {
		return MetricRow{Name: "http_req_failed", Type: "rate", Values: map[string]float64{"rate": rate}}
	}
	base := &Run{Meta: Meta{Title: "base"}, Metrics: []MetricRow{
		lat(1000), ctr(mPersisted, 1000, 100), ctr(mLost, 0, 0), ctr(mReconnects, 4, 0.4), failed(0), ctr("only_base", 1, 1),
	}, Verdicts: []Verdict{{Name: "camera_lost", Expr: "count==0", OK: true}, {Name: "checks", Expr: "rate>0.9", OK: true}}}
	cand := &Run{Meta: Meta{Title: "cand"}, Metrics: []MetricRow{
		lat(1200), ctr(mPersisted, 950, 80), ctr(mLost, 2, 0.2), ctr(mReconnects, 4, 0.4), failed(0.01), ctr("only_cand", 1, 1),
		ctr(mAckErrors+"{error_id:4000}", 3, 0.3),
	}, Verdicts: []Verdict{{Name: "camera_lost", Expr: "count==0", Got: 2, OK: false}, {Name: "checks", Expr: "rate>0.9", OK: true}}}
	c := Compare(base, cand)
	want := map[string]bool{ // name stat → flagged worse
		"camera_ack_latency{ack:persisted} p(99)": true,
		"camera_ack_latency{ack:persisted} avg":   false,
		"camera_ack_latency{ack:persisted} count": false,
		mPersisted + " count":                     false,
		mPersisted + " rate":                      true,
		mLost + " count":                          true,
		mLost + " rate":                           true,
		mReconnects + " count":                    false,
		"http_req_failed rate":                    true,
		mAckErrors + "{error_id:4000} count":      true,
	}
	got := map[string]MetricDiff{}
	for _, d := range c.Metrics {
		got[d.Name+" "+d.Stat] = d
	}
	for key, worse := range want {
		d, ok := got[key]
		if !ok {
			t.Errorf("Compare: no diff for %s", key)
			continue
		}
		if d.Worse != worse {
			t.Errorf("Compare: %s from %v to %v: worse=%v (%s), want %v", key, d.Base, d.Cand, d.Worse, d.Why, worse)
		}
	}
	if d := got["camera_ack_latency{ack:persisted} p(99)"]; d.Delta != 200 || d.Relative != 0.2 || d.Unit != "ms" {
		t.Errorf("p(99) diff %+v, want delta 200, relative 0.2, unit ms", d)
	}
	if d := got[mPersisted+" rate"]; d.Unit != "/s" {
		t.Errorf("rate diff unit %q, want /s", d.Unit)
	}
	if len(c.Verdicts) != 2 || !c.Verdicts[0].Flipped || c.Verdicts[1].Flipped {
		t.Errorf("verdicts %+v, want camera_lost flipped and checks not", c.Verdicts)
	}
	if c.Regressions != 8 {
		t.Errorf("regressions %d, want 8 (p99, persisted rate, lost count and rate, failed rate, ACK errors count and rate where the base had none, a flipped verdict)", c.Regressions)
	}
	if len(c.OnlyBase) != 1 || c.OnlyBase[0] != "only_base" || len(c.OnlyCandidate) != 1 || c.OnlyCandidate[0] != "only_cand" {
		t.Errorf("only base %v, only candidate %v; want [only_base] and [only_cand]", c.OnlyBase, c.OnlyCandidate)
	}
	// A run compared with itself has no regressions.
	if self := Compare(base, base); self.Regressions != 0 {
		t.Errorf("Compare(base, base): %d regressions, want 0", self.Regressions)
	}
}

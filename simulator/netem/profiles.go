package netem

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnknownProfile is returned by ProfileByName for a name it does not know.
var ErrUnknownProfile = errors.New("netem: unknown profile")

// namedProfiles are the built-in profiles. The realistic ones are *derived* from the
// published figures in shared/reference/reliability.md §2.6 (its "recommended
// simulator profiles" table and the rows it cites), not measured: each Source says
// which row. One-way delay is half the published RTT (the WebPageTest convention);
// Stalls use the RTT as slot (a loss costs about one round trip to repair) and
// R = 0.5 (2-packet bursts) unless noted, with P set so P/(P+R) is the loss rate.
//
// The flaky profiles are for acceptance tests, not realism: lte-good's path plus
// one fault kind every 5–20 s, so each kind happens within a minute.
var namedProfiles = []struct {
	name string
	make func() Profile
}{
	{"perfect", func() Profile {
		return Profile{Name: "perfect", Source: "no faults; a Link dials the raw connection"}
	}},
	{"lte-good", func() Profile {
		return Profile{
			Name: "lte-good",
			Source: "derived: 6 Mbps up / 13 Mbps down = Huang et al., MobiSys 2012, median LTE (4GTest); " +
				"35 ± 10 ms one way = WebPageTest LTE 70 ms RTT; stalls p=0.0005 r=0.5 (≈0.1 % loss) and " +
				"handover freezes of 50–500 ms every 2–10 min = reliability.md §2.6 recommendation",
			Faults: lteGoodPath(),
			Events: []EventSpec{{Kind: KindFreeze, Gap: Span{2 * time.Minute, 10 * time.Minute}, Duration: Span{50 * time.Millisecond, 500 * time.Millisecond}}},
		}
	}},
	{"lte-p75", func() Profile {
		return Profile{
			Name: "lte-p75",
			Source: "derived: 750 kbps up / 1.6 Mbps down, 150 ms RTT = Lighthouse mobileSlow4G (≈75th percentile of 4G); " +
				"75 ± 25 ms one way, ≈0.5 % loss, 2–10 s outage about hourly = reliability.md §2.6 recommendation",
			Faults: []Fault{
				Stalls{P: 0.0025, R: 0.5, Slot: 150 * time.Millisecond},
				Bandwidth{Up: 750 * Kbps, Down: 1600 * Kbps},
				Latency{Delay: 75 * time.Millisecond, Jitter: 25 * time.Millisecond},
			},
			Events: []EventSpec{{Kind: KindOutage, Gap: Span{50 * time.Minute, 70 * time.Minute}, Duration: Span{2 * time.Second, 10 * time.Second}}},
		}
	}},
	{"3g", func() Profile {
		return Profile{
			Name: "3g",
			Source: "derived: 768 kbps up / 1.6 Mbps down, 300 ms RTT = WebPageTest Mobile 3G (typical); " +
				"150 ± 50 ms one way, ≈1 % loss, 30–120 s outage about daily = reliability.md §2.6 recommendation",
			Faults: []Fault{
				Stalls{P: 0.00505, R: 0.5, Slot: 300 * time.Millisecond},
				Bandwidth{Up: 768 * Kbps, Down: 1600 * Kbps},
				Latency{Delay: 150 * time.Millisecond, Jitter: 50 * time.Millisecond},
			},
			Events: []EventSpec{{Kind: KindOutage, Gap: Span{20 * time.Hour, 28 * time.Hour}, Duration: Span{30 * time.Second, 120 * time.Second}}},
		}
	}},
	{"wifi-lossy", func() Profile {
		return Profile{
			Name: "wifi-lossy",
			Source: "derived: 10 Mbps up / 20 Mbps down = reliability.md §2.6 recommendation (5–20 Mbps shared); " +
				"15 ± 10 ms one way and ≈5 % bursty loss (r=0.3, 3.3-packet bursts) = str0m-netem wifi_lossy preset; " +
				"AP roam freezes of 1–3 s = §2.6 recommendation, every 10–30 min (frequency assumed)",
			Faults: []Fault{
				Stalls{P: 0.0158, R: 0.3, Slot: 30 * time.Millisecond},
				Bandwidth{Up: 10 * Mbps, Down: 20 * Mbps},
				Latency{Delay: 15 * time.Millisecond, Jitter: 10 * time.Millisecond},
			},
			Events: []EventSpec{{Kind: KindFreeze, Gap: Span{10 * time.Minute, 30 * time.Minute}, Duration: Span{time.Second, 3 * time.Second}}},
		}
	}},
	{"rural", func() Profile {
		return Profile{
			Name: "rural",
			Source: "derived: 200 kbps up / 240 kbps down, 840 ms RTT = WebPageTest EDGE; 420 ms one way, ≈2 % loss = " +
				"reliability.md §2.6 recommendation (edge/rural); 1–30 min outages about daily = short-time cell outages " +
				"of up to 30 min/day (Lorincz, Chiaraviglio, Cuomo 2016)",
			Faults: []Fault{
				Stalls{P: 0.0102, R: 0.5, Slot: 840 * time.Millisecond},
				Bandwidth{Up: 200 * Kbps, Down: 240 * Kbps},
				Latency{Delay: 420 * time.Millisecond},
			},
			Events: []EventSpec{{Kind: KindOutage, Gap: Span{12 * time.Hour, 36 * time.Hour}, Duration: Span{time.Minute, 30 * time.Minute}}},
		}
	}},
	{"flaky-outage", func() Profile {
		return flaky("flaky-outage", EventSpec{Kind: KindOutage, Gap: Span{10 * time.Second, 20 * time.Second}, Duration: Span{2 * time.Second, 5 * time.Second}})
	}},
	{"flaky-reset", func() Profile {
		return flaky("flaky-reset", EventSpec{Kind: KindReset, Gap: Span{5 * time.Second, 15 * time.Second}})
	}},
	{"flaky-halfopen", func() Profile {
		return flaky("flaky-halfopen", EventSpec{Kind: KindBlackHole, Gap: Span{10 * time.Second, 20 * time.Second}})
	}},
	{"flaky-cut", func() Profile {
		return flaky("flaky-cut", EventSpec{Kind: KindCut, Gap: Span{5 * time.Second, 15 * time.Second}, Bytes: ByteRange{8 << 10, 256 << 10}})
	}},
	{"flaky-freeze", func() Profile {
		return flaky("flaky-freeze", EventSpec{Kind: KindFreeze, Gap: Span{5 * time.Second, 15 * time.Second}, Duration: Span{200 * time.Millisecond, 3 * time.Second}})
	}},
	{"chaos", func() Profile {
		gap := Span{15 * time.Second, 45 * time.Second}
		return flaky("chaos",
			EventSpec{Kind: KindOutage, Gap: gap, Duration: Span{2 * time.Second, 5 * time.Second}},
			EventSpec{Kind: KindReset, Gap: gap},
			EventSpec{Kind: KindBlackHole, Gap: gap},
			EventSpec{Kind: KindCut, Gap: gap, Bytes: ByteRange{8 << 10, 256 << 10}},
			EventSpec{Kind: KindFreeze, Gap: gap, Duration: Span{200 * time.Millisecond, 3 * time.Second}},
		)
	}},
}

// lteGoodPath is lte-good's continuous faults, shared by the flaky profiles.
func lteGoodPath() []Fault {
	return []Fault{
		Stalls{P: 0.0005, R: 0.5, Slot: 70 * time.Millisecond},
		Bandwidth{Up: 6 * Mbps, Down: 13 * Mbps},
		Latency{Delay: 35 * time.Millisecond, Jitter: 10 * time.Millisecond},
	}
}

func flaky(name string, events ...EventSpec) Profile {
	return Profile{
		Name:   name,
		Source: "test profile, not realistic: lte-good's path plus frequent scheduled faults so every kind happens within a minute",
		Faults: lteGoodPath(),
		Events: events,
	}
}

// ProfileNames lists the built-in profiles.
func ProfileNames() []string {
	names := make([]string, len(namedProfiles))
	for i, p := range namedProfiles {
		names[i] = p.name
	}
	return names
}

// ProfileByName returns a fresh copy of a built-in profile.
func ProfileByName(name string) (Profile, error) {
	for _, p := range namedProfiles {
		if p.name == name {
			return p.make(), nil
		}
	}
	return Profile{}, fmt.Errorf("%w %q; valid names: %v", ErrUnknownProfile, name, ProfileNames())
}

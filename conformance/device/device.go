// Package device is the conformance suite that judges a device (a camera,
// the KVS producer SDK, camstorm's simulator) from what a device check
// observed of its PutMedia sessions under injected server-side faults.
package device

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/internal/devicerecord"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// SuiteName is what --select takes for the whole suite.
const SuiteName = "device"

// Target describes the device under test for reports; the device suite
// needs nothing of it beyond a name.
func Target(obs *Observations) *conformance.Target {
	return &conformance.Target{Name: "device streaming " + obs.Stream}
}

// Level of fault-free fragment-format cases and the media/track kinds.
const (
	trackVideo = 1
	trackAudio = 2
	// maxFragmentMs is the service's fragment duration limit (4002).
	maxFragmentMs = 10_000
)

// Suite returns the device cases judged over obs.
func Suite(obs *Observations) *conformance.Suite {
	v := newView(obs)
	c := func(id, title, req string, level conformance.Level, stimulus, expected string, run func(t *conformance.T, v *view)) *conformance.Case {
		return &conformance.Case{ID: id, Title: title, Requirement: req, Level: level, Stimulus: stimulus, Expected: expected,
			Parallel: true, Run: func(_ context.Context, t *conformance.T) {
				if len(v.Fragments) == 0 && !strings.HasPrefix(id, "DEV-CRED") {
					t.Skip("the device sent no fragment to stream %q during the check", v.Stream)
				}
				run(t, v)
			}}
	}
	const stream = "the device streams into the reference ingest"
	return &conformance.Suite{Name: SuiteName, Title: "Device behaviour against the reference ingest under server-side faults", Cases: []*conformance.Case{
		c("DEV-MKV-001", "EBML header", "R-DEV-1", "", stream,
			"every PutMedia body starts with an EBML header: EBMLReadVersion 1, DocType matroska or webm, DocTypeReadVersion at most 4", caseEBMLHeader),
		c("DEV-MKV-002", "Full header on every connection", "R-DEV-1", "", stream+"; the faults make it reconnect",
			"each session that carries media starts with an EBML header, Info and Tracks before its first Cluster (kvs-protocol.md §2.3)", caseFullHeader),
		c("DEV-MKV-003", "Track layout", "R-DEV-1", "", stream,
			"at most 3 tracks with distinct numbers, each with a CodecID, exactly one of them video", caseTracks),
		c("DEV-MKV-004", "Codec private data on the video track", "R-DEV-1", conformance.Should, stream,
			"the video track carries CodecPrivate (AVCC/HVCC configuration), which players and HLS need", caseCodecPrivate),
		c("DEV-MKV-005", "Timecode scale", "R-DEV-1", "", stream,
			"TimecodeScale between 100 ns and 1 s (default 1 ms)", caseTimecodeScale),
		c("DEV-MKV-006", "Fragment metadata within limits", "R-DEV-1", "", stream,
			"at most 10 tags per fragment; no reserved AWS_KINESISVIDEO_ name other than the producer event tags and END_OF_FRAGMENT", caseTags),
		c("DEV-FRAG-001", "Fragments start on a key frame", "R-DEV-1", "", stream,
			"the first video block of every fragment is a key frame", caseKeyframeAligned),
		c("DEV-FRAG-002", "Monotonic timecodes", "R-RES-3", "", stream,
			"within a session, each fragment starts after the previous fragment's last frame; no block precedes its Cluster", caseMonotonic),
		c("DEV-FRAG-003", "Fragment duration and frames per track", "R-DEV-1", "", stream,
			"each complete fragment lasts at most 10 s and carries a frame of every video and audio track", caseFragmentShape),
		c("DEV-ACK-001", "No ERROR provoked by the device", "R-RES-4", "", stream,
			"the ingest sends no ERROR ACK other than the injected ones", caseNoOwnErrors),
		c("DEV-RES-001", "Resume after a connection cut mid-fragment", "R-RES-1", "", "close faults cut the connection mid-fragment",
			"after each cut the device opens a new PutMedia and resends every fragment not acknowledged before the cut, from the first unacknowledged one", caseResumeAfterClose),
		c("DEV-RES-002", "Resume after withheld ACKs and slow or stalled reads", "R-RES-1", "", "withhold, throttle and stall faults",
			"the fragment in progress when the fault began is still delivered in full; if the device reconnects, it resends every fragment not acknowledged before the reconnect", caseResumeAfterSlowness),
		c("DEV-RES-003", "No fragment lost", "R-RES-1", "", stream+" through every fault",
			"every fragment the device started sending is received in full at some point, except one skipped after a non-retriable ERROR", caseNothingLost),
		c("DEV-ERR-001", "Retriable ERROR: reconnect and resend", "R-RES-4", "", "ERROR ACKs with ids the KVS table marks retriable (4000, 4003, 5000, 5001…)",
			"the device reconnects and resends the failed fragment (kvs-protocol.md §1.3, §4.4)", caseRetriable),
		c("DEV-ERR-002", "Non-retriable ERROR: skip the fragment and continue", "R-RES-4", "", "ERROR ACKs with ids the KVS table marks non-retriable (4001, 4002, 4004…4012, 4500…4507)",
			"the device reconnects, never resends the failed fragment, and continues with later ones (kvs-protocol.md §1.3, §4.4)", caseNonRetriable),
		c("DEV-CRED-001", "Temporary credentials", "R-IAM-1", "", stream,
			"every PutMedia is signed with temporary credentials (a session token with the access key, ASIA… on AWS), not long-term keys (AKIA…)", caseTemporaryCredentials),
		c("DEV-CRED-002", "Credential refresh", "R-IAM-1", "", stream+" for longer than its credentials last",
			"sessions opened after the first credentials expired are signed with a new access key ID", caseCredentialRefresh),
		c("DEV-E2EE-001", "E2EE key track declared", "R-E2E-1", conformance.Should, stream,
			"the Tracks declare a track with CodecID "+e2ee.CodecID+" carrying the epoch envelopes (docs/E2EE.md)", caseKeyTrack),
		c("DEV-E2EE-002", "Every fragment sealed", "R-E2E-1", conformance.Should, stream,
			"every fragment carries an envelope block on the key track, and its video frames are not plaintext length-prefixed NAL units", caseSealed),
	}}
}

func caseEBMLHeader(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		sess := v.Sessions[s]
		h, err := parseHeader(sess.EBMLHeader)
		if err != nil {
			t.Fail("session %d: the EBML header does not parse: %v", s, err)
			continue
		}
		e := h.EBML
		readVersion, docType := cmpOr(e.EBMLReadVersion, 1), cmpOr(e.DocType, "matroska")
		t.Evidence("mkv", "session %d: EBMLReadVersion %d DocType %q DocTypeReadVersion %d", s, readVersion, docType, e.DocTypeReadVersion)
		t.Check(readVersion == 1, "session %d: EBMLReadVersion %d, want 1", s, readVersion)
		t.Check(docType == "matroska" || docType == "webm", "session %d: DocType %q, want matroska or webm", s, docType)
		t.Check(e.DocTypeReadVersion <= 4, "session %d: DocTypeReadVersion %d, want at most 4", s, e.DocTypeReadVersion)
	}
}

func caseFullHeader(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		sess := v.Sessions[s]
		if sess.ClusterBeforeHeader || sess.Segments == 0 || len(sess.Tracks) == 0 {
			t.Fail("session %d (started %s): a Cluster came before the EBML header and Tracks (segments %d, tracks %d)",
				s, sess.Start.Format(time.RFC3339Nano), sess.Segments, len(sess.Tracks))
		}
	}
	t.Evidence("note", "%d sessions carried media", len(v.sessionsWithData()))
}

func caseTracks(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		h, err := parseHeader(v.Sessions[s].Header)
		if err != nil {
			t.Fail("session %d: the header does not parse: %v", s, err)
			continue
		}
		tracks := h.Tracks.TrackEntry
		video := 0
		numbers := map[uint64]bool{}
		for _, tr := range tracks {
			t.Evidence("mkv", "session %d: track %d type %d codec %q codec private %d bytes", s, tr.TrackNumber, tr.TrackType, tr.CodecID, len(tr.CodecPrivate))
			if tr.TrackType == trackVideo {
				video++
			}
			t.Check(!numbers[tr.TrackNumber], "session %d: track number %d used twice", s, tr.TrackNumber)
			numbers[tr.TrackNumber] = true
			t.Check(tr.CodecID != "", "session %d: track %d has no CodecID", s, tr.TrackNumber)
		}
		t.Check(len(tracks) >= 1 && len(tracks) <= kvsapi.MaxTracks, "session %d: %d tracks, want 1..%d", s, len(tracks), kvsapi.MaxTracks)
		t.Check(video == 1, "session %d: %d video tracks, want exactly 1", s, video)
	}
}

func caseCodecPrivate(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		h, err := parseHeader(v.Sessions[s].Header)
		if err != nil {
			t.Fail("session %d: the header does not parse: %v", s, err)
			continue
		}
		for _, tr := range h.Tracks.TrackEntry {
			if tr.TrackType == trackVideo {
				t.Check(len(tr.CodecPrivate) > 0, "session %d: video track %d (%s) has no CodecPrivate", s, tr.TrackNumber, tr.CodecID)
			}
		}
	}
}

func caseTimecodeScale(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		h, err := parseHeader(v.Sessions[s].Header)
		if err != nil {
			t.Fail("session %d: the header does not parse: %v", s, err)
			continue
		}
		sc := h.Info.TimecodeScale
		t.Check(sc >= 100 && sc <= 1_000_000_000, "session %d: TimecodeScale %d ns, want 100 ns..1 s", s, sc)
	}
}

func caseTags(t *conformance.T, v *view) {
	for _, f := range v.Fragments {
		var user int
		for _, name := range f.Tags {
			if name == kvsapi.TagEndOfFragment {
				continue
			}
			user++
			if strings.HasPrefix(name, kvsapi.TagPrefix) && !kvsapi.ProducerEventTag(name) {
				t.Fail("fragment #%d (timecode %d): reserved tag name %q", f.Ordinal, f.Timecode, name)
			}
		}
		t.Check(user <= kvsapi.MaxFragmentTags, "fragment #%d (timecode %d): %d tags, want at most %d", f.Ordinal, f.Timecode, user, kvsapi.MaxFragmentTags)
	}
}

// videoTracks returns the video track numbers a session declared.
func videoTracks(sess devicerecord.Session) []uint64 {
	var out []uint64
	for _, tr := range sess.Tracks {
		if tr.Type == trackVideo {
			out = append(out, tr.Number)
		}
	}
	return out
}

func caseKeyframeAligned(t *conformance.T, v *view) {
	bad := 0
	for _, f := range v.Fragments {
		video := videoTracks(v.Sessions[f.Session])
		for _, fr := range f.Frames {
			if !slices.Contains(video, fr.Track) {
				continue
			}
			if !fr.Key {
				bad++
				t.Fail("fragment #%d (session %d, timecode %d): the first video block (track %d, rel %d) is not a key frame",
					f.Ordinal, f.Session, f.Timecode, fr.Track, fr.Rel)
			}
			break
		}
	}
	t.Evidence("fragment", "%d of %d fragment arrivals start on a non-key frame", bad, len(v.Fragments))
}

func caseMonotonic(t *conformance.T, v *view) {
	prevEnd := map[int]int64{}
	prevTC := map[int]int64{}
	for _, f := range v.Fragments {
		scale := v.Sessions[f.Session].TimecodeScale
		if tc, ok := prevTC[f.Session]; ok {
			t.Check(f.Timecode > tc, "session %d: fragment #%d timecode %d is not after the previous fragment's %d", f.Session, f.Ordinal, f.Timecode, tc)
			t.Check(f.ProducerMs > prevEnd[f.Session], "session %d: fragment #%d starts at %d ms, not after the previous fragment's last frame at %d ms (ERROR 4004)",
				f.Session, f.Ordinal, f.ProducerMs, prevEnd[f.Session])
		}
		for _, fr := range f.Frames {
			if fr.Rel < 0 {
				t.Fail("fragment #%d (session %d): a block on track %d is %d ticks before its Cluster", f.Ordinal, f.Session, fr.Track, -fr.Rel)
				break
			}
		}
		prevTC[f.Session], prevEnd[f.Session] = f.Timecode, fragmentEndMs(f, scale)
	}
}

func caseFragmentShape(t *conformance.T, v *view) {
	for _, f := range v.Fragments {
		if !f.Complete {
			continue
		}
		sess := v.Sessions[f.Session]
		if d := fragmentEndMs(f, sess.TimecodeScale) - f.ProducerMs; d > maxFragmentMs {
			t.Fail("fragment #%d (session %d): lasts %d ms, over the 10 s limit (ERROR 4002)", f.Ordinal, f.Session, d)
		}
		for _, tr := range sess.Tracks {
			if tr.Type != trackVideo && tr.Type != trackAudio {
				continue
			}
			if !slices.ContainsFunc(f.Frames, func(fr devicerecord.Frame) bool { return fr.Track == tr.Number }) {
				t.Fail("fragment #%d (session %d): no frame on track %d (%s) (ERROR 4011)", f.Ordinal, f.Session, tr.Number, tr.CodecID)
			}
		}
	}
}

func caseNoOwnErrors(t *conformance.T, v *view) {
	for _, a := range v.Acks {
		if a.Event == "ERROR" && !a.Injected {
			t.Fail("session %d: the ingest sent ERROR %s for timecode %d at %s", a.Session, kvsapi.ErrorID(a.ErrorID), a.Timecode, a.Time.Format(time.RFC3339Nano))
		}
	}
}

// faultsOf returns the fired faults of the given kinds.
func faultsOf(v *view, kinds ...string) []devicerecord.Fault {
	var out []devicerecord.Fault
	for _, f := range v.Faults {
		if slices.Contains(kinds, f.Kind) {
			out = append(out, f)
		}
	}
	return out
}

func skipUnfired(t *conformance.T, v *view, kinds ...string) []devicerecord.Fault {
	fs := faultsOf(v, kinds...)
	if len(fs) == 0 {
		t.Skip("no %s fault fired (planned: %s)", strings.Join(kinds, "/"), strings.Join(v.Planned, ","))
	}
	return fs
}

// checkResent checks that the session `next` (and later ones) carried
// every fragment not acknowledged before `at`, except those a
// non-retriable ERROR told the device to skip.
func checkResent(t *conformance.T, v *view, what string, at time.Time, next int) {
	unacked := v.unackedBefore(at)
	skipped := nonRetriableFragments(v)
	var missing []string
	for _, f := range unacked {
		if skipped[f.ProducerMs] {
			continue
		}
		if !v.arrivedFrom(f.ProducerMs, next) {
			missing = append(missing, fmt.Sprintf("#%d (timecode %d)", f.Ordinal, f.Timecode))
		}
	}
	t.Evidence("fragment", "%s: %d fragments unacknowledged before it; session %d resumed", what, len(unacked), next)
	if len(missing) > 0 {
		t.Fail("%s: fragments sent before it but never acknowledged were not resent after it: %s", what, strings.Join(missing, ", "))
	}
}

// nonRetriableFragments are the producer ms of the fragments a
// non-retriable injected ERROR named: a correct device skips them.
func nonRetriableFragments(v *view) map[int64]bool {
	out := map[int64]bool{}
	for _, f := range faultsOf(v, "error") {
		if !f.Retriable {
			out[f.ProducerMs] = true
		}
	}
	return out
}

func describe(f devicerecord.Fault) string {
	return fmt.Sprintf("fault %q at %s in session %d during fragment #%d (timecode %d)", f.Spec, f.Time.Format("15:04:05.000"), f.Session, f.Ordinal, f.Timecode)
}

func caseResumeAfterClose(t *conformance.T, v *view) {
	for _, f := range skipUnfired(t, v, "close") {
		next := v.firstSessionAfter(f.Time)
		if next < 0 {
			t.Fail("%s: the device never opened another PutMedia carrying media", describe(f))
			continue
		}
		checkResent(t, v, describe(f), f.Time, next)
	}
}

func caseResumeAfterSlowness(t *conformance.T, v *view) {
	for _, f := range skipUnfired(t, v, "withhold", "throttle", "stall") {
		if f.Ordinal > 0 {
			if _, ok := v.received[f.ProducerMs]; !ok {
				last := len(v.Sessions) - 1
				if lastArrivalSession(v, f.ProducerMs) == last && v.Sessions[last].End.IsZero() {
					t.Skip("%s: the check ended while the fragment was still being sent", describe(f))
				}
				t.Fail("%s: the fragment in progress was never received in full afterwards", describe(f))
			}
		}
		if next := v.firstSessionAfter(f.Time); next >= 0 {
			checkResent(t, v, describe(f)+" (the device reconnected)", v.Sessions[next].Start, next)
		} else {
			t.Evidence("note", "%s: the device kept its session", describe(f))
		}
	}
}

func caseNothingLost(t *conformance.T, v *view) {
	skipped := nonRetriableFragments(v)
	last := len(v.Sessions) - 1
	seen := map[int64]bool{}
	lost := 0
	for _, f := range v.Fragments {
		if seen[f.ProducerMs] {
			continue
		}
		seen[f.ProducerMs] = true
		if _, ok := v.received[f.ProducerMs]; ok || skipped[f.ProducerMs] {
			continue
		}
		if lastArrivalSession(v, f.ProducerMs) == last && v.Sessions[last].End.IsZero() {
			continue // still in flight when the check ended
		}
		lost++
		t.Fail("fragment #%d (timecode %d, first sent in session %d) was never received in full", f.Ordinal, f.Timecode, f.Session)
	}
	t.Evidence("fragment", "%d distinct fragments, %d received, %d skipped after non-retriable errors, %d lost", len(seen), len(v.received), len(skipped), lost)
}

func lastArrivalSession(v *view, ms int64) int {
	s := -1
	for _, f := range v.Fragments {
		if f.ProducerMs == ms {
			s = f.Session
		}
	}
	return s
}

func caseRetriable(t *conformance.T, v *view) {
	fs := skipUnfired(t, v, "error")
	n := 0
	for _, f := range fs {
		if !f.Retriable {
			continue
		}
		n++
		next := v.firstSessionAfter(f.Time)
		if next < 0 {
			t.Fail("%s: ERROR %s is retriable but the device never reconnected with media", describe(f), kvsapi.ErrorID(f.ErrorID))
			continue
		}
		t.Check(v.arrivedFrom(f.ProducerMs, next), "%s: ERROR %s is retriable but the failed fragment #%d was not resent", describe(f), kvsapi.ErrorID(f.ErrorID), f.Ordinal)
		checkResent(t, v, describe(f), f.Time, next)
	}
	if n == 0 {
		t.Skip("no retriable ERROR was injected")
	}
}

func caseNonRetriable(t *conformance.T, v *view) {
	fs := skipUnfired(t, v, "error")
	n := 0
	for _, f := range fs {
		if f.Retriable {
			continue
		}
		n++
		next := v.firstSessionAfter(f.Time)
		if next < 0 {
			t.Fail("%s: after ERROR %s the device never reconnected with media", describe(f), kvsapi.ErrorID(f.ErrorID))
			continue
		}
		resent := 0
		for _, fr := range v.Fragments {
			if fr.Session >= next && fr.ProducerMs == f.ProducerMs {
				resent++
			}
		}
		t.Check(resent == 0, "%s: ERROR %s is not retriable, yet the device resent fragment #%d %d times", describe(f), kvsapi.ErrorID(f.ErrorID), f.Ordinal, resent)
		later := slices.ContainsFunc(v.Fragments, func(fr devicerecord.Fragment) bool { return fr.Session >= next && fr.ProducerMs > f.ProducerMs })
		t.Check(later, "%s: the device did not continue with fragments after the skipped one", describe(f))
		checkResent(t, v, describe(f), f.Time, next)
	}
	if n == 0 {
		t.Skip("no non-retriable ERROR was injected")
	}
}

func caseTemporaryCredentials(t *conformance.T, v *view) {
	if len(v.Sessions) == 0 {
		t.Skip("the device opened no PutMedia")
	}
	for _, s := range v.Sessions {
		switch {
		case s.AccessKeyID == "":
			t.Fail("session %d: no SigV4 access key ID in the Authorization header", s.Index)
		case strings.HasPrefix(s.AccessKeyID, "AKIA"):
			t.Fail("session %d: signed with the long-term access key %s", s.Index, s.AccessKeyID)
		case !s.SessionToken:
			t.Fail("session %d: signed with access key %s but without X-Amz-Security-Token: not temporary credentials", s.Index, s.AccessKeyID)
		}
	}
	t.Evidence("note", "access keys used: %s", strings.Join(accessKeys(v), ", "))
}

func accessKeys(v *view) []string {
	var keys []string
	for _, s := range v.Sessions {
		if s.AccessKeyID != "" && !slices.Contains(keys, s.AccessKeyID) {
			keys = append(keys, s.AccessKeyID)
		}
	}
	return keys
}

func caseCredentialRefresh(t *conformance.T, v *view) {
	if len(v.Sessions) == 0 {
		t.Skip("the device opened no PutMedia")
	}
	keys := accessKeys(v)
	t.Evidence("note", "access keys used in order: %s", strings.Join(keys, ", "))
	life := v.CredentialLifetime
	if life <= 0 {
		if len(keys) > 1 {
			return
		}
		t.Skip("the credentials' lifetime is unknown and the device used one access key; run with short-lived credentials to check refresh")
	}
	expiry := v.Sessions[0].Start.Add(life)
	if !v.Ended.After(expiry) {
		t.Skip("the check ran %v, shorter than the credentials' lifetime %v: nothing had to be refreshed", v.Ended.Sub(v.Started).Round(time.Second), life)
	}
	first := v.Sessions[0].AccessKeyID
	for _, s := range v.Sessions {
		if s.Start.After(expiry) && s.AccessKeyID == first {
			t.Fail("session %d started %v after the first credentials expired, still signed with %s", s.Index, s.Start.Sub(expiry).Round(time.Millisecond), first)
		}
	}
	if len(keys) < 2 {
		t.Fail("the check ran %v past the credentials' lifetime %v and every session used %s", v.Ended.Sub(expiry).Round(time.Second), life, first)
	}
}

func caseKeyTrack(t *conformance.T, v *view) {
	for s := range v.sessionsWithData() {
		found := slices.ContainsFunc(v.Sessions[s].Tracks, func(tr devicerecord.Track) bool { return tr.CodecID == e2ee.CodecID })
		t.Check(found, "session %d: no track with CodecID %s: the media is not end-to-end encrypted", s, e2ee.CodecID)
	}
}

func caseSealed(t *conformance.T, v *view) {
	noEnvelope, plain := 0, 0
	for _, f := range v.Fragments {
		if !f.KeyTrackBlock {
			noEnvelope++
		}
		if f.PlainVideo {
			plain++
		}
	}
	t.Check(noEnvelope == 0, "%d of %d fragment arrivals carry no envelope block on an E2EE key track", noEnvelope, len(v.Fragments))
	t.Check(plain == 0, "%d of %d fragment arrivals start with a plaintext video frame (length-prefixed NAL units)", plain, len(v.Fragments))
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

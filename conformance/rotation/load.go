package rotation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Load shape: a few cameras, a few fragments each, paced so that the
// rotations land while every camera is mid-stream.
const (
	loadCameras   = 3
	loadFragments = 8
	loadPace      = 40 * time.Millisecond
	// rotateAfter is how many fragments every camera has had PERSISTED
	// before the rotations.
	rotateAfter = 3
)

func loadCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ROT-LOAD-001", Requirement: "R-KEY-2", Parallel: true,
			Title:    "A KMS rotation while cameras stream loses nothing",
			Source:   kmsSource,
			Stimulus: fmt.Sprintf("%d cameras each stream %d fragments under one customer key over one PutMedia connection each; once every camera has %d fragments PERSISTED the key is rotated on demand, and camera 1's connection is cut mid-fragment after the rotation, after which it reconnects and resends that fragment, as KVS producers do. Every stream is read back; where the target shows its storage, every stored data key under the key is unwrapped with its stream's encryption context.", loadCameras, loadFragments, rotateAfter),
			Expected: fmt.Sprintf("Every fragment is PERSISTED and all %d per stream read back byte-identical, in order, each once; ListKeyRotations shows the rotation; every stored data key still unwraps, under its own stream's encryption context only.", loadFragments),
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Timeout:  60 * time.Second,
			Run:      runKMSRotationUnderLoad,
		},
		{
			ID: "ROT-LOAD-002", Requirement: "R-E2E-5", Parallel: true,
			Title:    "KMS and E2EE rotations while cameras stream: every persisted fragment decrypts, revocation holds",
			Source:   e2eeSource,
			Stimulus: fmt.Sprintf("%d cameras stream %d end-to-end encrypted fragments each (epochs of 3 fragments, consumers alice and bob) under one customer key; once every camera has %d fragments PERSISTED the key is rotated on demand and every camera revokes bob at its next fragment; camera 2 is cut mid-fragment after that and resends it. Every stream is read back and opened by both consumers.", loadCameras, loadFragments, rotateAfter),
			Expected: "Every fragment is PERSISTED and reads back; alice opens all of every stream, byte-identical, with consecutive sequence numbers; bob opens exactly each stream's fragments from before its camera revoked him.",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Timeout:  60 * time.Second,
			Run:      runE2EERotationUnderLoad,
		},
	}
}

// camera is one producer of a load case: one stream, one connection at a
// time, fragments sent one by one and each awaited PERSISTED.
type camera struct {
	name   string
	stream string
	header []byte
	// next returns fragment i (sealing it, for a sealed stream); called
	// once per i, in order, from the camera's goroutine.
	next func(i int) probe.Fragment
	// cut: after the rotation, the camera's connection is cut in the
	// middle of its next fragment, which it then resends.
	cut bool
	// onRotated runs in the camera's goroutine at the first fragment
	// after the rotation (index i), before it is made.
	onRotated func(i int)

	sent      []probe.Fragment
	persisted int
}

// run streams the camera's fragments; ready is called once rotateAfter
// fragments are PERSISTED; rotated is closed after the rotation. The
// camera waits for it before its last fragment, so every camera sees it.
func (cam *camera) run(ctx context.Context, t *conformance.T, c *probe.Client, ready func(), rotated <-chan struct{}) {
	u, err := c.StartUpload(ctx, cam.stream, cam.header)
	if err != nil {
		t.Fail("%s: PutMedia to %s refused: %v", cam.name, cam.stream, err)
		ready()
		return
	}
	defer func() { u.Finish(ctx, 5*time.Second) }()
	readied, sawRotation, cutDone := false, false, false
	defer func() {
		if !readied {
			ready()
		}
	}()
	for i := range loadFragments {
		if !sawRotation {
			if i == loadFragments-1 {
				<-rotated
			}
			select {
			case <-rotated:
				sawRotation = true
				if cam.onRotated != nil {
					cam.onRotated(i)
				}
			default:
			}
		}
		f := cam.next(i)
		cam.sent = append(cam.sent, f)
		if sawRotation && cam.cut && !cutDone {
			cutDone = true
			enc := f.Encode()
			if err := u.Write(enc[:len(enc)/2]); err != nil {
				t.Fail("%s: sending half of fragment %d: %v", cam.name, i+1, err)
				return
			}
			if _, err := u.AwaitAck(ctx, 15*time.Second, f.Timecode, kvsapi.EventBuffering); err != nil {
				t.Fail("%s: no BUFFERING ACK for the first half of fragment %d: %v", cam.name, i+1, err)
				return
			}
			u.Cut()
			t.Evidence("note", "%s: connection cut after %d of fragment %d's %d bytes; reconnecting to resend it", cam.name, len(enc)/2, i+1, len(enc))
			// A separate variable: on a refusal u must stay the (cut)
			// upload, or the deferred Finish would run on nil.
			resumed, err := c.StartUpload(ctx, cam.stream, cam.header)
			if err != nil {
				t.Fail("%s: PutMedia to %s refused after the cut: %v", cam.name, cam.stream, err)
				return
			}
			u = resumed
		}
		if err := u.Send(f); err != nil {
			t.Fail("%s: sending fragment %d: %v (ACKs: %s)", cam.name, i+1, err, ackLines(u.Acks()))
			return
		}
		if _, err := u.AwaitAck(ctx, 15*time.Second, f.Timecode, kvsapi.EventPersisted); err != nil {
			t.Fail("%s: fragment %d (timecode %d) not PERSISTED: %v", cam.name, i+1, f.Timecode, err)
			return
		}
		cam.persisted++
		if cam.persisted == rotateAfter {
			readied = true
			ready()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(loadPace):
		}
	}
}

// runCameras runs the cameras side by side, calls rotate once all have
// rotateAfter fragments PERSISTED, and waits for them.
func runCameras(ctx context.Context, t *conformance.T, c *probe.Client, cams []*camera, rotate func()) {
	var ready, done sync.WaitGroup
	rotated := make(chan struct{})
	ready.Add(len(cams))
	for _, cam := range cams {
		done.Add(1)
		go func() {
			defer done.Done()
			cam.run(ctx, t, c, ready.Done, rotated)
		}()
	}
	ready.Wait()
	start := time.Now()
	func() {
		defer close(rotated) // even if rotate ends the case
		rotate()
	}()
	t.Logf("rotations took %v while %d cameras streamed", time.Since(start), len(cams))
	done.Wait()
	for _, cam := range cams {
		t.Evidence("ack", "%s (%s): %d of %d fragments PERSISTED", cam.name, cam.stream, cam.persisted, loadFragments)
	}
}

func runKMSRotationUnderLoad(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	base := baseTimecode()
	var cams []*camera
	arns := map[string]string{}
	for i := range loadCameras {
		s := newStream(ctx, t, c, fmt.Sprintf("cam%d", i+1), key.ARN)
		arns[fmt.Sprintf("camera %d", i+1)] = s.StreamARN
		frags := fragments(fmt.Sprintf("rot-load-001-%d", i), base, 0, loadFragments)
		cams = append(cams, &camera{name: fmt.Sprintf("camera %d", i+1), stream: s.StreamName, header: probe.Header(),
			next: func(j int) probe.Fragment { return frags[j] }, cut: i == 0})
	}
	var rotateErr error
	runCameras(ctx, t, c, cams, func() {
		_, rotateErr = kc.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(key.ARN)})
	})
	if rotateErr != nil {
		t.Fatal("RotateKeyOnDemand %s while cameras streamed: %s", key.ARN, describeErr(rotateErr))
	}
	checkRotations(ctx, t, kc, key, 1, kmstypes.RotationTypeOnDemand)
	for _, cam := range cams {
		checkReadBack(ctx, t, c, cam.stream, cam.name, cam.sent)
		t.Check(len(cam.sent) == loadFragments, "%s sent only %d of its %d fragments", cam.name, len(cam.sent), loadFragments)
	}
	if t.Target.Storage == nil {
		return
	}
	files := storedFiles(ctx, t)
	blobs := probe.WrappedDataKeys(files, key.ID)
	t.Check(len(blobs) > 0, "no wrapped data key under %s found at rest for %d streams' fragments", key.ID, loadCameras)
	unwrapped := 0
	for i, blob := range blobs {
		v, _ := probe.KeyVersion(blob, key.ID)
		owners, lastErr := unwrapOwners(ctx, kc, blob, arns)
		switch len(owners) {
		case 0:
			t.Fail("stored data key %d of %d (key version %d) no longer unwraps under any of the cameras' streams: %s", i+1, len(blobs), v, describeErr(lastErr))
		case 1:
			unwrapped++
		default:
			t.Fail("stored data key %d of %d (key version %d) unwraps under the encryption contexts of %v: it is not bound to its stream", i+1, len(blobs), v, owners)
		}
	}
	t.Evidence("kms", "%d of %d stored data keys under the key unwrap after the rotation", unwrapped, len(blobs))
}

func runE2EERotationUnderLoad(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	cs := newConsumers(t)
	base := baseTimecode()
	type sealedCam struct {
		*camera
		run       sealedRun
		revokedAt int
	}
	var cams []*sealedCam
	for i := range loadCameras {
		s := newStream(ctx, t, c, fmt.Sprintf("cam%d", i+1), key.ARN)
		sealer, err := probe.NewSealer(e2ee.SealerConfig{Stream: s.StreamName, Recipients: []e2ee.PublicKey{cs.alice.Public(), cs.bob.Public()}, RotateFragments: 3})
		t.Must(err, "making a camera's sealer")
		frags := fragments(fmt.Sprintf("rot-load-002-%d", i), base, 0, loadFragments)
		sc := &sealedCam{revokedAt: loadFragments}
		sc.camera = &camera{name: fmt.Sprintf("camera %d", i+1), stream: s.StreamName, header: probe.SealedHeader(), cut: i == 1,
			next: func(j int) probe.Fragment { return sc.run.seal(t, sealer, frags[j:j+1])[0] },
			onRotated: func(j int) {
				if err := sealer.E2EE().SetRecipients([]e2ee.PublicKey{cs.alice.Public()}); err != nil {
					t.Fail("%s: revoking bob at the producer: %v", sc.name, err)
					return
				}
				sc.revokedAt = j
			}}
		cams = append(cams, sc)
	}
	plainCams := make([]*camera, len(cams))
	for i, sc := range cams {
		plainCams[i] = sc.camera
	}
	var rotateErr error
	runCameras(ctx, t, c, plainCams, func() {
		_, rotateErr = kc.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(key.ARN)})
	})
	if rotateErr != nil {
		t.Fatal("RotateKeyOnDemand %s while cameras streamed: %s", key.ARN, describeErr(rotateErr))
	}
	for _, sc := range cams {
		t.Evidence("e2ee", "%s: epochs sealed %v, bob revoked before fragment %d", sc.name, sc.run.epochs, sc.revokedAt+1)
		t.Check(len(sc.run.sealed) == loadFragments, "%s sent only %d of its %d fragments", sc.name, len(sc.run.sealed), loadFragments)
		awaitListed(ctx, c, sc.stream, sc.run.sealed)
		chunks, _ := readSealed(ctx, t, c, sc.stream, len(sc.run.sealed))
		checkRevocation(t, sc.stream, cs, chunks, &sc.run, sc.revokedAt)
		checkOpensAll(t, sc.stream, "alice ("+sc.name+")", cs.alice, chunks, &sc.run)
	}
}

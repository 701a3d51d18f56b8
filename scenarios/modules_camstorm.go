package scenarios

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/grafana/sobek"
)

// maxOutage bounds camstorm.outage(): a storm, not a blackout.
const maxOutage = 10 * time.Minute

// camstormModule is `camstorm`: the target, SigV4 signing for k6/http
// control-plane calls, and levers on the running cameras (a fleet-wide
// network outage, KMS key rotation, viewers tailing streams).
func (v *VU) camstormModule() *sobek.Object {
	m := v.rt.NewObject()
	t := v.test
	target := v.rt.NewObject()
	_ = target.Set("controlPlane", t.targetSim().ControlPlaneURL)
	_ = target.Set("region", t.targetSim().Region)
	_ = target.Set("kms", t.kmsURL)
	_ = m.Set("target", target)
	_ = m.Set("sign", func(method, url string, body sobek.Value, service ...string) sobek.Value {
		svc := kvsclient.SigningService
		if len(service) > 0 && service[0] != "" {
			svc = service[0]
		}
		h, err := t.sign(v.ctx, method, url, valueBytes(body), svc)
		if err != nil {
			panic(v.rt.NewGoError(err))
		}
		return v.rt.ToValue(h)
	})
	_ = m.Set("outage", func(seconds float64, scenario ...string) int {
		d := time.Duration(seconds * float64(time.Second))
		if d <= 0 || d > maxOutage {
			panic(v.rt.NewTypeError("outage(seconds): want more than 0 and at most %s", maxOutage))
		}
		n := 0
		for _, f := range v.fleetsOf(scenario) {
			f.Outage(d)
			n += f.Active()
		}
		t.logf("info", "network outage of %s for %d cameras", d, n)
		return n
	})
	_ = m.Set("rotateKeys", func(scenario ...string) int {
		n, err := t.rotateKeys(v.ctx, v.fleetsOf(scenario))
		if err != nil {
			panic(v.rt.NewGoError(err))
		}
		return n
	})
	_ = m.Set("tail", func(stream string, seconds float64) sobek.Value {
		f := v.anyFleet()
		if f == nil {
			panic(v.rt.NewTypeError("tail(): no camera scenario in this script, so no consumer key to decrypt with"))
		}
		r := f.Tail(v.ctx, stream, time.Duration(seconds*float64(time.Second)), v.tags)
		return v.rt.ToValue(r)
	})
	_ = m.Set("streams", func(scenario ...string) []string {
		var out []string
		for _, f := range v.fleetsOf(scenario) {
			out = append(out, f.Streams()...)
		}
		return out
	})
	_ = m.Set("cameras", func(scenario ...string) int {
		n := 0
		for _, f := range v.fleetsOf(scenario) {
			n += f.Active()
		}
		return n
	})
	return m
}

// fleetsOf returns the named camera scenario's fleet, or all of them.
func (v *VU) fleetsOf(scenario []string) []*cameras.Fleet {
	if len(scenario) > 0 && scenario[0] != "" {
		f, ok := v.test.fleets[scenario[0]]
		if !ok {
			panic(v.rt.NewTypeError("no camera scenario %q (camera scenarios: %v)", scenario[0], slices.Sorted(maps.Keys(v.test.fleets))))
		}
		return []*cameras.Fleet{f}
	}
	var out []*cameras.Fleet
	for _, name := range slices.Sorted(maps.Keys(v.test.fleets)) {
		out = append(out, v.test.fleets[name])
	}
	return out
}

func (v *VU) anyFleet() *cameras.Fleet {
	fs := v.fleetsOf(nil)
	if len(fs) == 0 {
		return nil
	}
	return fs[0]
}

func valueBytes(body sobek.Value) []byte {
	if body == nil || sobek.IsUndefined(body) || sobek.IsNull(body) {
		return nil
	}
	if ab, ok := body.Export().(sobek.ArrayBuffer); ok {
		return ab.Bytes()
	}
	return []byte(body.String())
}

// sign returns the SigV4 headers for a request with the target's
// credentials, for k6/http calls to the control plane.
func (t *testRun) sign(ctx context.Context, method, url string, body []byte, service string) (map[string]string, error) {
	sim := t.targetSim()
	if sim.Credentials == nil {
		return nil, fmt.Errorf("sign(): the target has no credentials")
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sign(%s %s): %w", method, url, err)
	}
	creds, err := sim.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign(): credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, sim.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign(): %w", err)
	}
	out := map[string]string{}
	for k := range req.Header {
		out[k] = req.Header.Get(k)
	}
	return out, nil
}

// rotateKeys rotates, on demand, every KMS key the fleets' streams are
// encrypted with, and returns how many keys it rotated.
func (t *testRun) rotateKeys(ctx context.Context, fleets []*cameras.Fleet) (int, error) {
	sim := t.targetSim()
	if t.kmsURL == "" {
		return 0, fmt.Errorf("rotateKeys(): the target has no KMS endpoint")
	}
	keys := map[string]bool{}
	for _, f := range fleets {
		for _, stream := range f.Streams() {
			var out kvsapi.DescribeStreamOutput
			if err := kvsclient.Call(ctx, sim.Client(), sim.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: stream}, &out); err != nil {
				return 0, fmt.Errorf("rotateKeys(): describing %s: %w", stream, err)
			}
			if out.StreamInfo.KmsKeyID != "" {
				keys[out.StreamInfo.KmsKeyID] = true
			}
		}
	}
	client := kms.New(kms.Options{BaseEndpoint: aws.String(t.kmsURL), Region: sim.Region, Credentials: sim.Credentials, HTTPClient: sim.HTTP})
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		if _, err := client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
			if strings.HasPrefix(id, "alias/aws/") || strings.Contains(id, ":alias/aws/") {
				return 0, fmt.Errorf("rotateKeys(): the streams use the AWS-managed key %s, which AWS rotates itself and cannot be rotated on demand; create the streams with a customer managed key (KmsKeyId) to rotate it: %w", id, err)
			}
			return 0, fmt.Errorf("rotateKeys(): rotating %s: %w", id, err)
		}
	}
	t.logf("info", "rotated %d KMS keys on demand", len(keys))
	return len(keys), nil
}

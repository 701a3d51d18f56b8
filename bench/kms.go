package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/camstorm/camstorm/stack"
)

// KMSOptions configure the KMS benchmark.
type KMSOptions struct {
	Workers  int           // concurrent SDK clients' callers; default 8
	Duration time.Duration // measured; default 5s
}

// KMSResult is what the KMS benchmark measured: envelope operations
// (GenerateDataKey, then Decrypt of the returned blob) per second through
// the AWS SDK against the stack's reference KMS over TLS loopback, and the
// same wrap and unwrap done in process with AES-256-GCM.
type KMSResult struct {
	Workers    int     `json:"workers"`
	SDKPerSec  float64 `json:"sdk_envelopes_per_s"`
	RawPerSec  float64 `json:"raw_envelopes_per_s"`
	Ratio      float64 `json:"ratio"`
	SDKLatency struct {
		GenerateDataKey time.Duration `json:"generate_data_key_ns"`
		Decrypt         time.Duration `json:"decrypt_ns"`
	} `json:"sdk_mean_latency"`
}

// KMS measures data-key envelopes per second through the SDK against the
// embedded stack's KMS, and the raw in-process baseline, in one run.
func KMS(ctx context.Context, o KMSOptions) (KMSResult, error) {
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	res := KMSResult{Workers: o.Workers}
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	if err != nil {
		return res, err
	}
	defer st.Close(context.Background())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: st.CA().ClientTLS(), MaxIdleConnsPerHost: o.Workers}}
	defer hc.CloseIdleConnections()
	// As the ingest does: its role's credentials, with every request signed
	// and verified and the key policy evaluated.
	client := awskms.New(awskms.Options{Region: st.Region, HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: st.AssumeRole(st.IAM().RoleARN(stack.IngestRoleName), "bench")},
		func(o *awskms.Options) { o.BaseEndpoint = aws.String(st.KMSURL) })
	encCtx := map[string]string{"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:000000000000:stream/bench/1"}

	var gen, dec atomic.Int64 // summed latencies, ns
	n, err := forWorkers(ctx, o.Workers, o.Duration, func() error {
		t0 := time.Now()
		dk, err := client.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String("alias/aws/kinesisvideo"),
			KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: encCtx})
		if err != nil {
			return err
		}
		t1 := time.Now()
		if _, err := client.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx}); err != nil {
			return err
		}
		gen.Add(int64(t1.Sub(t0)))
		dec.Add(int64(time.Since(t1)))
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("bench: KMS through the SDK: %w", err)
	}
	res.SDKPerSec = float64(n) / o.Duration.Seconds()
	if n > 0 {
		res.SDKLatency.GenerateDataKey = time.Duration(gen.Load() / n)
		res.SDKLatency.Decrypt = time.Duration(dec.Load() / n)
	}

	// The baseline: what an envelope costs without HTTP, TLS, JSON and the
	// SDK — a random data key wrapped and unwrapped with AES-256-GCM.
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		return res, err
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return res, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return res, err
	}
	aad := []byte(encCtx["aws:kinesisvideo:arn"])
	n, err = forWorkers(ctx, o.Workers, o.Duration, func() error {
		var key, nonce [32]byte
		if _, err := rand.Read(key[:]); err != nil {
			return err
		}
		if _, err := rand.Read(nonce[:12]); err != nil {
			return err
		}
		blob := aead.Seal(nil, nonce[:12], key[:], aad)
		_, err := aead.Open(nil, nonce[:12], blob, aad)
		return err
	})
	if err != nil {
		return res, err
	}
	res.RawPerSec = float64(n) / o.Duration.Seconds()
	res.Ratio = res.SDKPerSec / res.RawPerSec
	return res, nil
}

// forWorkers runs op in a loop on workers goroutines for d and counts the
// completed calls; the first error stops the run.
func forWorkers(ctx context.Context, workers int, d time.Duration, op func() error) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := op(); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { first = err; cancel() })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), first
}

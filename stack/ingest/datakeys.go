package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// KMS is the part of a KMS client the ingest uses for encryption at rest.
// The AWS SDK for Go v2 *kms.Client satisfies it, so the ingest works the
// same against the reference KMS and against AWS KMS.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// errKMS marks failures of a KMS call, so callers can answer them with
// the KMS error ids (kmsErrorID).
var errKMS = errors.New("ingest: KMS")

// StreamARNContext is the encryption-context key that binds a data key to
// its stream, as KVS's own server-side encryption does.
const StreamARNContext = "aws:kinesisvideo:arn"

// Data-key cache policy defaults. A plaintext data key lives only in
// memory, and only this long or for this many fragments, whichever comes
// first: that bounds how much data one key protects (well inside AES-GCM's
// limits for random nonces), how long a key outlives a KMS key's rotation
// or disabling (the next fragment after expiry asks KMS again, and a
// disabled key then fails ingest), and how many KMS calls a busy stream
// makes (one per DataKeyMaxAge instead of one per fragment).
const (
	DefaultDataKeyMaxAge  = 5 * time.Minute
	DefaultDataKeyMaxUses = 10_000
	// unwrappedKeysKept bounds the plaintext keys kept for reading back.
	unwrappedKeysKept = 1024
)

// DataKey is a data key for encrypting fragments of one stream.
type DataKey struct {
	Plaintext []byte // 32 bytes; in memory only
	Wrapped   []byte // the KMS ciphertext blob, stored beside the data
	KMSKeyID  string // the KMS key (ARN) that wrapped it
}

// dataKeys hands out data keys for writing, cached per stream within the
// policy above, and unwraps stored ones for reading, keeping a bounded
// number of them.
type dataKeys struct {
	kms     KMS
	now     func() time.Time
	maxAge  time.Duration
	maxUses int

	// keyDump is where the deliberate defect Defects.StoreDataKeys writes
	// every plaintext data key ("" without the defect).
	keyDump string

	mu        sync.Mutex
	writing   map[string]*cachedKey   // by stream ARN + "\x00" + KMS key id
	unwrapped map[string]unwrappedKey // by stream ARN + "\x00" + wrapped key
	order     []string                // unwrapped keys, oldest first
}

// unwrappedKey is a plaintext data key kept for reading, and since when:
// it is trusted for DataKeyMaxAge, so a disabled KMS key stops reads too.
type unwrappedKey struct {
	plain []byte
	at    time.Time
}

type cachedKey struct {
	key     DataKey
	created time.Time
	uses    int
}

func newDataKeys(k KMS, now func() time.Time, maxAge time.Duration, maxUses int) *dataKeys {
	return &dataKeys{kms: k, now: now, maxAge: maxAge, maxUses: maxUses,
		writing: map[string]*cachedKey{}, unwrapped: map[string]unwrappedKey{}}
}

// forWriting returns the data key for the next fragment of streamARN,
// under kmsKeyID: the cached one while it is young and little used
// enough, otherwise a new one from GenerateDataKey.
func (d *dataKeys) forWriting(ctx context.Context, streamARN, kmsKeyID string) (DataKey, error) {
	id := streamARN + "\x00" + kmsKeyID
	now := d.now()
	d.mu.Lock()
	if c := d.writing[id]; c != nil && now.Sub(c.created) < d.maxAge && c.uses < d.maxUses {
		c.uses++
		d.mu.Unlock()
		return c.key, nil
	}
	d.mu.Unlock()
	out, err := d.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(kmsKeyID), KeySpec: kmstypes.DataKeySpecAes256,
		EncryptionContext: map[string]string{StreamARNContext: streamARN},
	})
	if err != nil {
		return DataKey{}, fmt.Errorf("%w: GenerateDataKey for %s: %w", errKMS, streamARN, err)
	}
	if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
		return DataKey{}, fmt.Errorf("GenerateDataKey for %s returned a %d-byte key and a %d-byte blob", streamARN, len(out.Plaintext), len(out.CiphertextBlob))
	}
	k := DataKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob, KMSKeyID: aws.ToString(out.KeyId)}
	d.mu.Lock()
	d.writing[id] = &cachedKey{key: k, created: now, uses: 1}
	d.remember(streamARN, k.Wrapped, k.Plaintext, now)
	if d.keyDump != "" {
		dumpKey(d.keyDump, k.Plaintext)
	}
	d.mu.Unlock()
	return k, nil
}

// dumpKey appends a plaintext data key to path: the deliberate defect
// Defects.StoreDataKeys, a data-key cache persisted "to survive restarts".
func dumpKey(path string, key []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(key)
	_ = f.Sync()
}

// forReading unwraps a stored data key of streamARN.
func (d *dataKeys) forReading(ctx context.Context, streamARN string, wrapped []byte) ([]byte, error) {
	now := d.now()
	d.mu.Lock()
	// Keyed by stream too: a key unwrapped for one stream's context is not
	// handed out for another's without asking KMS.
	if k, ok := d.unwrapped[streamARN+"\x00"+string(wrapped)]; ok && now.Sub(k.at) < d.maxAge {
		d.mu.Unlock()
		return k.plain, nil
	}
	d.mu.Unlock()
	out, err := d.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wrapped,
		EncryptionContext: map[string]string{StreamARNContext: streamARN}})
	if err != nil {
		return nil, fmt.Errorf("%w: unwrapping a data key of %s: %w", errKMS, streamARN, err)
	}
	if len(out.Plaintext) != 32 {
		return nil, fmt.Errorf("unwrapping a data key of %s gave %d bytes", streamARN, len(out.Plaintext))
	}
	d.mu.Lock()
	d.remember(streamARN, wrapped, out.Plaintext, now)
	d.mu.Unlock()
	return out.Plaintext, nil
}

// remember keeps an unwrapped key of a stream, forgetting the oldest beyond
// the bound. d.mu must be held.
func (d *dataKeys) remember(streamARN string, wrapped, plain []byte, at time.Time) {
	w := streamARN + "\x00" + string(wrapped)
	if _, ok := d.unwrapped[w]; ok {
		d.unwrapped[w] = unwrappedKey{plain, at} // renewed by KMS
		return
	}
	d.unwrapped[w] = unwrappedKey{plain, at}
	d.order = append(d.order, w)
	if len(d.order) > unwrappedKeysKept {
		delete(d.unwrapped, d.order[0])
		d.order = d.order[1:]
	}
}

// kmsErrorID maps a KMS failure to the ERROR ACK KVS sends for it
// (kvs-protocol.md §1.3, 4500–4506). Failures that are not KMS answers
// (connection refused, timeouts, 5xx) mean the key is unavailable.
func kmsErrorID(err error) kvsapi.ErrorID {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return kvsapi.ErrKMSKeyUnavailable
	}
	switch ae.ErrorCode() {
	case "AccessDeniedException":
		return kvsapi.ErrKMSKeyAccessDenied
	case "DisabledException":
		return kvsapi.ErrKMSKeyDisabled
	case "ValidationException", "InvalidCiphertextException", "IncorrectKeyException", "InvalidGrantTokenException":
		return kvsapi.ErrKMSKeyValidation
	case "InvalidKeyUsageException":
		return kvsapi.ErrKMSKeyInvalidUsage
	case "KMSInvalidStateException":
		return kvsapi.ErrKMSKeyInvalidState
	case "NotFoundException":
		return kvsapi.ErrKMSKeyNotFound
	}
	return kvsapi.ErrKMSKeyUnavailable
}

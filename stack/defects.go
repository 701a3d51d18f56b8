package stack

import (
	"fmt"
	"slices"
	"strings"
)

// Defect names one deliberate flaw the reference stack can be started with, so that
// conformance suites can be shown to catch it. Never for production.
type Defect string

// The deliberate defects (Options.Defects). Each changes the real code
// path of the stack at the one place the flaw would live.
const (
	DefectPlaintextAtRest          Defect = "plaintext-at-rest"
	DefectSkipSignatureCheck       Defect = "skip-signature-check"
	DefectAcceptExpiredCredentials Defect = "accept-expired-credentials"
	DefectIgnoreStreamOwnership    Defect = "ignore-stream-ownership"
	DefectIgnoreKeyPolicy          Defect = "ignore-key-policy"
	DefectNoAuditOnDenial          Defect = "no-audit-on-denial"
	DefectReuseNonce               Defect = "reuse-nonce"
	DefectDropResentFragment       Defect = "drop-resent-fragment"
	DefectDuplicateResentFragment  Defect = "duplicate-resent-fragment"
	DefectPersistedBeforeDurable   Defect = "persisted-before-durable"
	DefectForgetOldKeyVersions     Defect = "forget-old-key-versions"
	DefectStaleKeyVersion          Defect = "stale-key-version"
	DefectIgnoreEncryptionContext  Defect = "ignore-encryption-context"
	DefectPlainHTTP                Defect = "plain-http"
	DefectWeakTLS                  Defect = "weak-tls"
	DefectTamperMedia              Defect = "tamper-media"
	DefectReorderFragments         Defect = "reorder-fragments"
	DefectWrongErrorAck            Defect = "wrong-error-ack"
	DefectIgnoreRevocation         Defect = "ignore-revocation"
	DefectOverbroadRoles           Defect = "overbroad-roles"
	DefectPlaintextDataKeys        Defect = "plaintext-data-keys"
)

// defectDescriptions is every defect, in the stable order Defects returns.
var defectDescriptions = []struct {
	d    Defect
	what string
}{
	{DefectPlaintextAtRest, "fragments are stored unencrypted"},
	{DefectSkipSignatureCheck, "the gateway accepts a request whose SigV4 signature is wrong (the access key still names the caller; unsigned requests are still refused)"},
	{DefectAcceptExpiredCredentials, "the X-Amz-Date ±15 min window and the expiry of session credentials are not checked"},
	{DefectIgnoreStreamOwnership, "the KVS authorizer checks a camera's call against the camera's own stream, not the requested one, so a camera may call any stream (BOLA)"},
	{DefectIgnoreKeyPolicy, "key-use checks on a caller's behalf always allow, so a consumer without a key-policy grant reads media"},
	{DefectNoAuditOnDenial, "denied requests (any service) write no audit record"},
	{DefectReuseNonce, "the at-rest AES-GCM seal uses one fixed nonce per data key, so identical plaintext gives identical stored ciphertext"},
	{DefectDropResentFragment, "a fragment whose producer timecode the stream has already seen (even an upload cut mid-fragment) is acknowledged BUFFERING, RECEIVED and PERSISTED but not stored"},
	{DefectDuplicateResentFragment, "a resent fragment (same producer timecode as a stored one) is stored again as a new fragment"},
	{DefectPersistedBeforeDurable, "PERSISTED is sent when a fragment is queued, and it is written about 3 s later from an in-memory queue that a crash loses"},
	{DefectForgetOldKeyVersions, "after a KMS key rotation, ciphertexts of earlier key versions no longer decrypt"},
	{DefectStaleKeyVersion, "after a KMS key rotation, GenerateDataKey keeps using the first key version's material"},
	{DefectIgnoreEncryptionContext, "KMS Decrypt ignores the encryption context, so a blob decrypts under a different context"},
	{DefectPlainHTTP, "the control and data plane listeners also serve plaintext HTTP on the same port"},
	{DefectWeakTLS, "the listeners accept TLS 1.0 and 1.1"},
	{DefectTamperMedia, "GetMedia and GetMediaForFragmentList flip one bit in the first SimpleBlock of every fragment they serve"},
	{DefectReorderFragments, "GetMedia and GetMediaForFragmentList serve fragments pairwise swapped (2,1,4,3…)"},
	{DefectWrongErrorAck, "a disabled KMS key gives ERROR 4503 (KMS unreachable) instead of 4501 (KMS key disabled), in ACKs and GetMedia error chunks"},
	{DefectIgnoreRevocation, "a revoked device certificate still gets credentials from the IoT credential provider"},
	{DefectPlaintextDataKeys, "the ingest writes every plaintext data key it gets from the KMS to a file beside the fragments (a data-key cache persisted to survive restarts)"},
	{DefectOverbroadRoles, "every principal's identity policies also allow every action on every resource, as a wildcard policy left on the camera and consumer roles would (no least privilege)"},
}

// Defects returns every defect, in a stable order, for the defect matrix.
func Defects() []Defect {
	out := make([]Defect, len(defectDescriptions))
	for i, x := range defectDescriptions {
		out[i] = x.d
	}
	return out
}

// Describe says in one sentence what the stack does wrong with the defect.
func (d Defect) Describe() string {
	for _, x := range defectDescriptions {
		if x.d == d {
			return x.what
		}
	}
	return "not a defect of the reference stack"
}

// ParseDefect reads a defect's name; the error lists the valid names.
func ParseDefect(s string) (Defect, error) {
	d := Defect(strings.TrimSpace(s))
	if slices.Contains(Defects(), d) {
		return d, nil
	}
	names := make([]string, 0, len(defectDescriptions))
	for _, x := range defectDescriptions {
		names = append(names, string(x.d))
	}
	return "", fmt.Errorf("stack: unknown defect %q: valid defects are %s", s, strings.Join(names, ", "))
}

// defectSet is the stack's defects, checked where each flaw lives.
type defectSet map[Defect]bool

// newDefectSet validates ds.
func newDefectSet(ds []Defect) (defectSet, error) {
	set := defectSet{}
	for _, d := range ds {
		if _, err := ParseDefect(string(d)); err != nil {
			return nil, err
		}
		set[d] = true
	}
	return set, nil
}

package conformance

import (
	"context"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Target is an ingest under test, described only by what a client of it
// knows — endpoints, trust, credentials — and by what it allows a suite to
// do to it. Suites never reach the implementation any other way; a
// capability that is nil is one the target does not offer, and the cases
// that need it are skipped with the reason.
type Target struct {
	// Name identifies the target in reports ("embedded", "containers",
	// a URL).
	Name   string
	Region string
	// ControlPlaneURL is the KVS control plane (CreateStream,
	// GetDataEndpoint …); data endpoints are discovered through it.
	ControlPlaneURL string
	// KMSURL is the AWS KMS JSON 1.1 endpoint the target's streams use;
	// empty means the suites cannot talk to the KMS.
	KMSURL string
	// HTTP is an unsigned client that trusts the target's certificates.
	HTTP *http.Client
	// RootCAs are the CAs the target's certificates chain to (nil: the
	// system's), for the cases that make their own TLS connections.
	RootCAs *x509.CertPool
	// Admin are credentials allowed everything (create streams and keys,
	// read every stream, set key policies).
	Admin aws.CredentialsProvider
	// AccountID is the AWS account of the target's resources (ARNs in key
	// policies); empty when unknown.
	AccountID string

	// Optional capabilities.
	Principals Principals
	Storage    Storage
	Audit      AuditSource
	Ingest     IngestControl
	KMSLink    KMSPartition
	Clock      ClockControl
}

// Principal is an identity a suite acts as.
type Principal struct {
	// Name is the identity's name (a camera's thing name, a role session).
	Name string
	// ARN is the role the principal acts as (for key policies).
	ARN         string
	Credentials aws.CredentialsProvider
	// Revoke withdraws the principal's right to new credentials (a camera
	// certificate revoked); nil when the target cannot revoke it.
	Revoke func(ctx context.Context) error
}

// Principals makes least-privilege identities on the target.
type Principals interface {
	// Camera returns a new camera identity whose policy lets it create
	// and write only the stream named stream, with temporary credentials
	// it renews itself.
	Camera(ctx context.Context, stream string) (Principal, error)
	// Consumer returns a new viewer identity (role based, temporary
	// credentials) that may read streams but holds no grant on
	// customer-managed keys other than what their key policies give it.
	Consumer(ctx context.Context, name string) (Principal, error)
}

// Storage shows what the ingest keeps at rest.
type Storage interface {
	// StoredFiles returns every file the target stores, path to bytes.
	StoredFiles(ctx context.Context) (map[string][]byte, error)
}

// AuditSource shows the target's audit trail.
type AuditSource interface {
	// AuditLogs returns the raw audit logs (CloudTrail-shaped JSON lines
	// with a hash chain, docs/IDENTITY.md), by the process that wrote
	// them. Records must be flushed before they are returned.
	AuditLogs(ctx context.Context) (map[string][]byte, error)
}

// IngestControl restarts the ingest.
type IngestControl interface {
	// RestartIngest stops the ingest gracefully and starts it again on
	// its storage; endpoints stay the same.
	RestartIngest(ctx context.Context) error
	// CrashIngest kills the ingest without a goodbye (state in memory is
	// lost) and starts it again on its storage.
	CrashIngest(ctx context.Context) error
}

// KMSPartition cuts the ingest off from its KMS.
type KMSPartition interface {
	SetKMSReachable(ctx context.Context, reachable bool) error
}

// Services whose clocks ClockControl shifts.
const (
	ClockKMS      = "kms"
	ClockIdentity = "identity"
)

// ClockControl moves a service's clock, so that rotation periods and
// credential lifetimes pass without waiting.
type ClockControl interface {
	ShiftClock(ctx context.Context, service string, d time.Duration) error
}

// Capability is something a case needs of its target beyond its endpoints.
type Capability string

// Capabilities a case can need.
const (
	NeedKMS          Capability = "kms"            // Target.KMSURL
	NeedPrincipals   Capability = "principals"     // Target.Principals
	NeedStorage      Capability = "storage"        // Target.Storage
	NeedAudit        Capability = "audit"          // Target.Audit
	NeedRestart      Capability = "restart-ingest" // Target.Ingest
	NeedKMSPartition Capability = "cut-kms"        // Target.KMSLink
	NeedClock        Capability = "clock"          // Target.Clock
)

// Describe says what the capability lets a suite do.
func (c Capability) Describe() string {
	switch c {
	case NeedKMS:
		return "call the target's KMS: give its endpoint"
	case NeedPrincipals:
		return "enrol cameras and assume the consumer role as least-privilege identities"
	case NeedStorage:
		return "read the files the target stores"
	case NeedAudit:
		return "read the target's audit log"
	case NeedRestart:
		return "restart or crash the ingest"
	case NeedKMSPartition:
		return "cut the ingest off from its KMS"
	case NeedClock:
		return "move the KMS's or the identity service's clock"
	}
	return "unknown capability"
}

// Has reports whether the target offers c.
func (tg *Target) Has(c Capability) bool {
	switch c {
	case NeedKMS:
		return tg.KMSURL != ""
	case NeedPrincipals:
		return tg.Principals != nil
	case NeedStorage:
		return tg.Storage != nil
	case NeedAudit:
		return tg.Audit != nil
	case NeedRestart:
		return tg.Ingest != nil
	case NeedKMSPartition:
		return tg.KMSLink != nil
	case NeedClock:
		return tg.Clock != nil
	}
	return false
}

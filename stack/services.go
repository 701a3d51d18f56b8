package stack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/sigv4"
)

// How the gateway sees each of the stack's services.

// signing names of the stack's SigV4 services.
const (
	signKVS = "kinesisvideo"
	signKMS = "kms"
	signSTS = "sts"
)

// Body limits of the non-streaming APIs, as the services themselves have.
const (
	maxKVSBody = 64 << 10
	maxKMSBody = 1 << 20
)

// newGateway makes a gateway whose verifiers look keys up in the identity
// service, one verifier per signing name, so a request scoped to one
// service is refused by another.
func newGateway(svc *iam.Service, log *audit.Log, region, account string, logf func(string, ...any), defects defectSet) (*gateway, error) {
	lookup := func(id, token string) (sigv4.Key, bool) {
		c, ok := svc.LookupCredential(id, token)
		return sigv4.Key{SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expiration, Identity: c}, ok
	}
	g := &gateway{audit: log, logf: logf, verifiers: map[string]*sigv4.Verifier{}, region: region, account: account,
		noAuditOnDenial: defects[DefectNoAuditOnDenial]}
	for _, name := range []string{signKVS, signKMS, signSTS, signIoT} {
		v, err := sigv4.New(sigv4.Config{Lookup: lookup, Region: region, Services: []string{name},
			SkipSignatureCheck: defects[DefectSkipSignatureCheck], SkipTimeChecks: defects[DefectAcceptExpiredCredentials]})
		if err != nil {
			return nil, err
		}
		g.verifiers[name] = v
	}
	return g, nil
}

func (g *gateway) source(eventSource string) audit.Source {
	return audit.Source{EventSource: eventSource, Region: g.region, Account: g.account}
}

// kvsService is the KVS control plane (data false) or data plane.
func kvsService(g *gateway, data bool) service {
	return service{
		signingName: signKVS, protocol: sigv4.RESTJSON, source: g.source(audit.SourceKinesisVideo), maxBody: maxKVSBody,
		tooLarge: "InvalidArgumentException",
		operation: func(r *http.Request) string {
			op := strings.TrimPrefix(r.URL.Path, "/")
			if op == "" {
				return "Unknown"
			}
			return strings.ToUpper(op[:1]) + op[1:]
		},
		streaming: func(r *http.Request) bool { return data && r.URL.Path == "/putMedia" },
		dataEvent: func(string) bool { return data },
		readOnly:  readOnlyByName,
	}
}

// kmsService is the KMS (AWS KMS JSON 1.1).
func kmsService(g *gateway) service {
	return service{
		signingName: signKMS, protocol: sigv4.AWSJSON, source: g.source(audit.SourceKMS), maxBody: maxKMSBody,
		tooLarge: "SerializationException",
		operation: func(r *http.Request) string {
			if r.URL.Path == PathKeyUse {
				return "AuthorizeKeyUse"
			}
			if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService."); ok && len(op) <= 64 {
				return op
			}
			return "Unknown"
		},
		streaming: func(*http.Request) bool { return false },
		dataEvent: func(string) bool { return false },
		readOnly: func(op string) bool {
			return readOnlyByName(op) || op == "Decrypt" || strings.HasPrefix(op, "GenerateDataKey")
		},
	}
}

// stsService is STS (the query protocol); the operation is the form's Action.
func stsService(g *gateway) service {
	return service{
		signingName: signSTS, protocol: sigv4.AWSQuery, source: g.source(audit.SourceSTS), maxBody: iam.MaxSTSBody,
		tooLarge: "ValidationError",
		operation: func(r *http.Request) string {
			if op := r.PostForm.Get("Action"); op != "" && len(op) <= 64 {
				return op
			}
			return "Unknown"
		},
		streaming: func(*http.Request) bool { return false },
		dataEvent: func(string) bool { return false },
		readOnly:  func(op string) bool { return op == "GetCallerIdentity" },
	}
}

// iotService is a device-facing endpoint without SigV4 (enrollment, with
// its bearer token; the credential provider, with the client certificate).
func iotService(g *gateway, operation string) service {
	return service{
		source: g.source(audit.SourceIoTCredentials), maxBody: 0,
		operation: func(*http.Request) string { return operation },
		streaming: func(*http.Request) bool { return true },
		dataEvent: func(string) bool { return false },
		readOnly:  func(string) bool { return false },
	}
}

func readOnlyByName(op string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// authenticatedCaller hands STS the caller the gateway verified.
func authenticatedCaller(r *http.Request) (iam.Principal, error) {
	c := callerOf(r.Context())
	if c == nil {
		return iam.Principal{}, fmt.Errorf("%w: the request was not authenticated", iam.ErrAccessDenied)
	}
	return c.Principal, nil
}

// IngestRoleName is the role the ingest calls its KMS as: it may generate
// and decrypt data keys, nothing else.
const IngestRoleName = "camstorm-ingest"

// ensureIngestRole creates (or restores) the ingest's role and returns
// its ARN.
func ensureIngestRole(svc *iam.Service) (string, error) {
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, svc.Account())
	err := svc.PutRole(iam.Role{Name: IngestRoleName, TrustPolicy: trust, MaxSessionDuration: time.Hour, Policies: map[string]string{
		"data-keys": `{"Version":"2012-10-17","Statement":[{"Sid":"EncryptionAtRest","Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}`,
	}})
	if err != nil {
		return "", fmt.Errorf("the ingest's role: %w", err)
	}
	return svc.RoleARN(IngestRoleName), nil
}

// roleCredentials fetches temporary credentials of a role from the
// identity service in process, as the bootstrap admin assumes it; wrap it
// in aws.NewCredentialsCache to renew them before they expire.
func roleCredentials(svc *iam.Service, roleARN, session string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		c, err := svc.AssumeRole(svc.AdminCredential().Principal, roleARN, session, time.Hour)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("assuming %s: %w", roleARN, err)
		}
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Source: "camstorm stack", CanExpire: true, Expires: c.Expiration}, nil
	})
}

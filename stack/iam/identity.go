// Package iam is the reference stack's identity service: device enrollment
// against the stack's CA, the AWS IoT-style credential provider, STS-style
// AssumeRole, roles with their policies, and the access keys every service
// of the stack verifies SigV4 signatures against.
package iam

import "time"

// PrincipalType is CloudTrail's userIdentity.type.
type PrincipalType string

// The principal types the stack issues credentials for.
const (
	PrincipalRoot        PrincipalType = "Root"
	PrincipalUser        PrincipalType = "IAMUser"
	PrincipalAssumedRole PrincipalType = "AssumedRole"
)

// Principal is who signed a request.
type Principal struct {
	Type PrincipalType
	// ARN is the caller identity as AWS reports it:
	// arn:aws:iam::ACCOUNT:root, arn:aws:iam::ACCOUNT:user/NAME or
	// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	ARN     string
	Account string
	// RoleARN (arn:aws:iam::ACCOUNT:role/ROLE) and SessionName are set for
	// assumed roles; policies name roles by RoleARN.
	RoleARN     string
	SessionName string
	// ThingName and CertificateID are set for sessions from the credential
	// provider: the policy variables ${credentials-iot:ThingName} and
	// ${credentials-iot:AwsCertificateId}.
	ThingName     string
	CertificateID string
}

// Credential is an access key the stack issued: long-term (no session
// token, no expiry) or temporary.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string    // empty for long-term keys
	Expiration      time.Time // zero for long-term keys
	Principal       Principal
}

// Temporary reports whether the credential is a session credential.
func (c Credential) Temporary() bool { return c.SessionToken != "" }

// Expired reports whether a temporary credential has expired at now.
func (c Credential) Expired(now time.Time) bool {
	return !c.Expiration.IsZero() && !now.Before(c.Expiration)
}

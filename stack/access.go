package stack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/policy"
	"github.com/camstorm/camstorm/stack/ingest"
	"github.com/camstorm/camstorm/stack/kms"
)

// access decides the requests of the stack's services from IAM-style
// policies: the caller's identity policies, kept by the identity service,
// and for KMS keys the key policy (least privilege, explicit deny first).
type access struct {
	iam    *iam.Service
	region string
	// keys asks the stack's KMS whether a key may be used on a caller's
	// behalf; nil when the ingest's KMS is not the stack's.
	keys  *remoteKeyUse
	clock func() time.Time
	// Deliberate defects (DefectIgnoreStreamOwnership, DefectIgnoreKeyPolicy,
	// DefectOverbroadRoles).
	ignoreOwnership, ignoreKeyPolicy, overbroadRoles bool

	mu     sync.Mutex
	parsed map[string]*policy.Policy // by document text, bounded
}

var _ ingest.Authorizer = (*access)(nil)

// maxParsedPolicies bounds the parsed-document cache.
const maxParsedPolicies = 4096

// identityPolicies are p's identity policies, parsed once per text.
func (a *access) identityPolicies(p iam.Principal) []*policy.Policy {
	docs := a.iam.IdentityPolicies(p)
	out := make([]*policy.Policy, 0, len(docs))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, doc := range docs {
		pol, ok := a.parsed[doc]
		if !ok {
			var err error
			if pol, err = policy.Parse([]byte(doc)); err != nil {
				continue // the identity service checks documents when they are stored
			}
			if len(a.parsed) >= maxParsedPolicies {
				clear(a.parsed)
			}
			a.parsed[doc] = pol
		}
		out = append(out, pol)
	}
	if a.overbroadRoles {
		out = append(out, allowEverything) // deliberate defect: no least privilege
	}
	return out
}

// allowEverything is the wildcard identity policy of DefectOverbroadRoles.
var allowEverything = func() *policy.Policy {
	p, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`))
	if err != nil {
		panic(err)
	}
	return p
}()

// principal is how policies see the caller.
func principal(c *caller) policy.Principal {
	return policy.Principal{ARN: c.ARN, Account: c.Account, ID: c.AccessKeyID}
}

// conditions are the request's global condition keys and policy variables.
func (a *access) conditions(c *caller) map[string][]string {
	m := map[string][]string{
		"aws:SourceIp":         {c.SourceIP},
		"aws:SecureTransport":  {"true"},
		"aws:CurrentTime":      {a.clock().UTC().Format(time.RFC3339)},
		"aws:PrincipalAccount": {c.Account},
		"aws:PrincipalArn":     {c.ARN},
		"aws:PrincipalType":    {string(c.Type)},
	}
	switch c.Type {
	case iam.PrincipalAssumedRole:
		m["aws:PrincipalArn"] = []string{c.RoleARN}
		m["aws:userid"] = []string{roleName(c.RoleARN) + ":" + c.SessionName}
	case iam.PrincipalUser:
		name := c.ARN[strings.LastIndexByte(c.ARN, '/')+1:]
		m["aws:username"], m["aws:userid"] = []string{name}, []string{name}
	}
	if c.ThingName != "" {
		m["credentials-iot:ThingName"] = []string{c.ThingName}
	}
	if c.CertificateID != "" {
		m["credentials-iot:AwsCertificateId"] = []string{c.CertificateID}
	}
	return m
}

func roleName(roleARN string) string { return roleARN[strings.LastIndexByte(roleARN, '/')+1:] }

// decide evaluates the caller's identity policies for action on resource.
func (a *access) decide(c *caller, action, resource string) policy.Decision {
	return policy.Evaluate(policy.Request{Principal: principal(c), Action: action, Resource: resource, Context: a.conditions(c)},
		a.identityPolicies(c.Principal), nil)
}

// deniedMessage is AWS's wording of an authorisation failure.
func deniedMessage(c *caller, action, resource string, d policy.Decision) string {
	why := "no identity-based policy allows the " + action + " action"
	if d.Outcome == policy.ExplicitDeny {
		why = "with an explicit deny in an identity-based policy"
		return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", c.ARN, action, resource, why)
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", c.ARN, action, resource, why)
}

// Authorize decides a KVS API call (ingest.Authorizer).
func (a *access) Authorize(ctx context.Context, acc ingest.Access) *kvsapi.Exception {
	c := callerOf(ctx)
	if c == nil {
		return &kvsapi.Exception{Status: http.StatusForbidden, Type: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
	}
	if acc.Resource != "*" {
		c.touched(acc.Resource, audit.ResourceStream)
	}
	d := a.decide(c, acc.Action, acc.Resource)
	if d.Allowed() {
		return nil
	}
	if a.ignoreOwnership && c.ThingName != "" {
		// Deliberate defect (BOLA): whether the camera may act on its own
		// stream decides for every stream.
		if own := ownStream(acc.Resource, c.ThingName); own != acc.Resource && a.decide(c, acc.Action, own).Allowed() {
			return nil
		}
	}
	return &kvsapi.Exception{Status: http.StatusForbidden, Type: "AccessDeniedException", Message: deniedMessage(c, acc.Action, acc.Resource, d)}
}

// AuthorizeKeyUse decides whether the ingest may use a stream's KMS key on
// the caller's behalf (ingest.Authorizer), by asking the KMS, which
// decides by the key policy with kms:ViaService naming KVS, as AWS KMS
// does for a service's requests made with the caller's credentials.
func (a *access) AuthorizeKeyUse(ctx context.Context, action, kmsKeyID string) error {
	c := callerOf(ctx)
	if c == nil {
		return fmt.Errorf("%w: no authenticated caller for %s on %s", ingest.ErrKeyUseDenied, action, kmsKeyID)
	}
	if a.keys == nil || a.ignoreKeyPolicy { // ignoreKeyPolicy: a deliberate defect
		return nil
	}
	c.touched(kmsKeyID, audit.ResourceKMSKey)
	return a.keys.authorize(ctx, c, action, kmsKeyID)
}

// kmsCaller tells the KMS who called it. Requests of the ingest's own
// role are the KVS service's, so they carry kms:ViaService as AWS's do.
func (a *access) kmsCaller(ingestRoleARN string) func(r *http.Request) (kms.Caller, bool) {
	viaKVS := "kinesisvideo." + a.region + ".amazonaws.com"
	return func(r *http.Request) (kms.Caller, bool) {
		c := callerOf(r.Context())
		if c == nil {
			return kms.Caller{}, false
		}
		conds := a.conditions(c)
		if c.RoleARN == ingestRoleARN {
			conds["kms:ViaService"] = []string{viaKVS}
		}
		return kms.Caller{Principal: principal(c), Identity: a.identityPolicies(c.Principal), Conditions: conds}, true
	}
}

// authorizeAssumeRole decides sts:AssumeRole (iam.Authorize): the role's
// trust policy is the root of trust, and where it trusts the caller's
// account, the caller's identity policies must allow the call too.
func (a *access) authorizeAssumeRole(p iam.Principal, action, roleARN, trustPolicy string) error {
	trust, err := policy.ParseKind([]byte(trustPolicy), policy.ResourceKind)
	if err != nil {
		return fmt.Errorf("%w: the role's trust policy does not parse: %v", iam.ErrAccessDenied, err)
	}
	c := &caller{Principal: p}
	req := policy.Request{Principal: principal(c), Action: action, Resource: roleARN, Context: a.conditions(c)}
	if d := policy.EvaluateKey(req, trust, a.identityPolicies(p)); !d.Allowed() {
		return fmt.Errorf("%w: User: %s is not authorized to perform: %s on resource: %s", iam.ErrAccessDenied, p.ARN, action, roleARN)
	}
	return nil
}

// ownStream is a stream ARN (arn:aws:kinesisvideo:R:A:stream/NAME/…) with
// the stream name replaced by thing, or arn unchanged if it names no stream.
func ownStream(arn, thing string) string {
	const marker = ":stream/"
	i := strings.Index(arn, marker)
	if i < 0 {
		return arn
	}
	rest := arn[i+len(marker):]
	tail := ""
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		tail = rest[j:]
	}
	return arn[:i+len(marker)] + thing + tail
}

package kms

import (
	"errors"
	"sync"

	iampolicy "github.com/camstorm/camstorm/stack/iam/policy"
)

// anonymousPrincipal is the caller of a request without SigV4 credentials.
const anonymousPrincipal = "anonymous"

// policy is a parsed key policy, evaluated with the stack's IAM policy
// evaluator (the full grammar: NotAction, NotPrincipal, Condition, policy
// variables) under AWS KMS's rule that the key policy is the root of trust.
type policy struct {
	doc *iampolicy.Policy
}

// parsePolicy checks a key policy document and returns it parsed. Key
// policies are resource policies: every statement needs a Principal; a
// statement without Resource means this key.
func parsePolicy(doc string) (policy, error) {
	if p := cachedPolicy(doc); p != nil {
		return policy{p}, nil
	}
	p, err := iampolicy.ParseKind([]byte(doc), iampolicy.ResourceKind)
	if err != nil {
		return policy{}, err
	}
	p.Name = "key policy"
	cachePolicy(doc, p)
	return policy{p}, nil
}

// Caller is an authenticated principal as key policies see it.
type Caller struct {
	Principal iampolicy.Principal
	// Identity are the caller's IAM identity policies, consulted when the
	// key policy delegates to the account ("Enable IAM User Permissions").
	Identity []*iampolicy.Policy
	// Conditions are the request's global condition keys (aws:SourceIp,
	// aws:PrincipalArn, kms:ViaService ...).
	Conditions map[string][]string
}

// name is how the audit line names the caller.
func (c Caller) name() string {
	switch {
	case c.Principal.ARN != "":
		return c.Principal.ARN
	case c.Principal.ID != "":
		return c.Principal.ID
	}
	return anonymousPrincipal
}

// standInCaller is a caller known only by the access key id it claims,
// for a Server without Config.Caller (no SigV4 verification in front of
// it): a principal of the server's account named
// arn:aws:iam::ACCOUNT:user/<access key id>, which a key policy may also
// name by the bare id, with an identity policy allowing every KMS action,
// so the default key policy (delegation to the account) admits it and
// Deny statements still apply.
func standInCaller(account, akid string) Caller {
	arn := "arn:aws:iam::" + account + ":user/" + akid
	return Caller{
		Principal:  iampolicy.Principal{ARN: arn, Account: account, ID: akid},
		Identity:   callerIdentityPolicies,
		Conditions: map[string][]string{"aws:PrincipalArn": {arn}, "aws:username": {akid}},
	}
}

// allows reports whether c may perform action ("kms:Decrypt") on the key
// keyARN with the encryption context ec (nil when the operation has none):
// an explicit Deny wins, otherwise an Allow is needed, and identity
// policies count only where the key policy delegates to the account.
func (p policy) allows(c Caller, account, action, keyARN string, ec map[string]string) bool {
	return p.decide(c, account, action, keyARN, ec).Allowed()
}

func (p policy) decide(c Caller, account, action, keyARN string, ec map[string]string) iampolicy.Decision {
	ctx := make(map[string][]string, len(c.Conditions)+len(ec)+2)
	for k, v := range c.Conditions {
		ctx[k] = v
	}
	ctx["kms:CallerAccount"] = []string{cmpOr(c.Principal.Account, account)}
	if len(ec) > 0 {
		keys := make([]string, 0, len(ec))
		for k, v := range ec {
			ctx["kms:EncryptionContext:"+k] = []string{v}
			keys = append(keys, k)
		}
		ctx["kms:EncryptionContextKeys"] = keys
	}
	req := iampolicy.Request{Principal: c.Principal, Action: action, Resource: keyARN, Context: ctx}
	return iampolicy.EvaluateKey(req, p.doc, c.Identity)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// callerIdentityPolicies stand in for the IAM policies of the KMS's callers
// until the stack's identity service supplies them (see decide).
var callerIdentityPolicies = func() []*iampolicy.Policy {
	p, err := iampolicy.ParseKind([]byte(`{"Version":"2012-10-17","Statement":{"Sid":"StackCallersMayUseKMS","Effect":"Allow","Action":"kms:*","Resource":"*"}}`), iampolicy.IdentityKind)
	if err != nil {
		panic("kms: the built-in caller identity policy does not parse: " + err.Error())
	}
	p.Name = "reference stack caller (stand-in)"
	return []*iampolicy.Policy{p}
}()

// The compiled policies of recently used documents: every KMS call checks
// its key's policy, and parsing a document costs far more than evaluating
// it. Bounded: the cache starts over when full.
const maxCachedPolicies = 256

var policyCache struct {
	sync.Mutex
	byDoc map[string]*iampolicy.Policy
}

func cachedPolicy(doc string) *iampolicy.Policy {
	policyCache.Lock()
	defer policyCache.Unlock()
	return policyCache.byDoc[doc]
}

func cachePolicy(doc string, p *iampolicy.Policy) {
	policyCache.Lock()
	defer policyCache.Unlock()
	if policyCache.byDoc == nil || len(policyCache.byDoc) >= maxCachedPolicies {
		policyCache.byDoc = make(map[string]*iampolicy.Policy)
	}
	policyCache.byDoc[doc] = p
}

// managedKeyPolicy is the policy of the AWS-managed key behind
// alias/aws/kinesisvideo, as AWS writes it: every principal of the account
// may use it, but only through Kinesis Video Streams (kms:ViaService), and
// the account may read its metadata. So producers and consumers need no KMS
// permission of their own for the default key.
func managedKeyPolicy(account, region string) string {
	return `{"Version":"2012-10-17","Id":"auto-kinesisvideo-1","Statement":[` +
		`{"Sid":"Allow access through Amazon Kinesis Video Streams for all principals in the account that are authorized to use Amazon Kinesis Video Streams",` +
		`"Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"kms:CallerAccount":"` + account + `","kms:ViaService":"kinesisvideo.` + region + `.amazonaws.com"}}},` +
		`{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},` +
		`"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}`
}

// defaultPolicy is the policy AWS gives a key created without one: the
// account has full access.
func defaultPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

// AuthorizeKeyUse decides whether a service may use the key keyRef (id,
// ARN, alias or alias ARN) for action on behalf of the caller c, as AWS KMS
// decides a service's request made with the caller's credentials: by the
// key policy, and the caller's identity policies where it delegates to
// the account. c.Conditions should carry kms:ViaService. Only a denial is
// an error: a missing or disabled key fails the use itself, with its own
// error.
func (s *Server) AuthorizeKeyUse(c Caller, action, keyRef string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.lookupLocked(&call{op: "AuthorizeKeyUse", caller: c}, keyRef, action, true)
	var e *apiError
	if errors.As(err, &e) && e.Type == "AccessDeniedException" {
		return e
	}
	return nil
}

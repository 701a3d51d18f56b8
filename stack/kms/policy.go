package kms

import (
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

// keyRequest is one request as the key policy sees it. Only the caller,
// the account and the action are known to allows today; the other fields
// let a caller that has them (the key's ARN, the encryption context)
// evaluate Resource elements and kms: condition keys.
type keyRequest struct {
	account, principal, action string
	keyARN                     string            // "" matches only Resource "*" (or none)
	encryptionContext          map[string]string // kms:EncryptionContext:<k>, kms:EncryptionContextKeys
}

// allows reports whether principal may perform action ("kms:Decrypt") under
// this policy: an explicit Deny wins, otherwise an Allow is needed.
func (p policy) allows(account, principal, action string) bool {
	return p.decide(keyRequest{account: account, principal: principal, action: action}).Allowed()
}

// decide evaluates a request against the key policy.
//
// The KMS does not verify SigV4 signatures yet and knows a caller only by
// the access key id it claims, so each caller (even an unsigned one) is
// taken as a principal of the server's account named
// arn:aws:iam::ACCOUNT:user/<access key id>, and a key-policy Principal may
// name it by that ARN or by the bare access key id. No IAM identity policies
// exist for those callers yet: they are all taken to have an identity policy
// allowing every KMS action, so a key policy that delegates to the account
// (the default "Enable IAM User Permissions") admits every caller, as
// before the evaluator was shared. Deny statements still apply to them.
func (p policy) decide(r keyRequest) iampolicy.Decision {
	req := iampolicy.Request{
		Principal: iampolicy.Principal{
			ARN:     "arn:aws:iam::" + r.account + ":user/" + r.principal,
			Account: r.account,
			ID:      r.principal,
		},
		Action:   r.action,
		Resource: r.keyARN,
		Context:  keyContext(r),
	}
	return iampolicy.EvaluateKey(req, p.doc, callerIdentityPolicies)
}

// keyContext is the request's condition keys.
func keyContext(r keyRequest) map[string][]string {
	ctx := map[string][]string{
		"kms:CallerAccount": {r.account},
		"aws:PrincipalArn":  {"arn:aws:iam::" + r.account + ":user/" + r.principal},
		"aws:username":      {r.principal},
	}
	if len(r.encryptionContext) > 0 {
		keys := make([]string, 0, len(r.encryptionContext))
		for k, v := range r.encryptionContext {
			ctx["kms:EncryptionContext:"+k] = []string{v}
			keys = append(keys, k)
		}
		ctx["kms:EncryptionContextKeys"] = keys
	}
	return ctx
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

// defaultPolicy is the policy AWS gives a key created without one: the
// account has full access.
func defaultPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

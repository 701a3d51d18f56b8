package policy

import (
	"fmt"
	"strings"
)

// Principal is who makes a request, as far as matching a Principal element
// needs to know. The zero Principal is the anonymous caller: only "*"
// matches it.
type Principal struct {
	// ARN is the caller's identity: arn:aws:iam::ACCT:root,
	// arn:aws:iam::ACCT:user/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION.
	// A policy naming the role arn:aws:iam::ACCT:role/ROLE matches the
	// assumed-role session.
	ARN string
	// Account is the caller's 12-digit account; taken from ARN when empty.
	// "arn:aws:iam::ACCT:root" or "ACCT" in a policy match any principal of
	// the account.
	Account string
	// ID is a name a policy may use instead of an ARN: AWS shows a unique
	// id (AIDA…, AROA…) for a deleted principal; the reference KMS uses the
	// caller's access key id.
	ID string
	// Service is set when an AWS service calls (credentials.iot.amazonaws.com);
	// Federated for web-identity or SAML callers.
	Service   string
	Federated string
}

// isRoot reports whether p is an account's root user.
func isRoot(p *Principal) bool {
	a, ok := splitARN(p.ARN)
	return ok && a.service == "iam" && a.resource == "root"
}

func (p *Principal) account() string {
	if p.Account != "" {
		return p.Account
	}
	if a, ok := splitARN(p.ARN); ok {
		return a.account
	}
	return ""
}

// Request is what is being asked for.
type Request struct {
	Principal Principal
	// Action is service:Operation (kinesisvideo:PutMedia); matched
	// case-insensitively.
	Action string
	// Resource is the ARN acted on; matched case-sensitively.
	Resource string
	// Context holds the request's condition keys and policy variables
	// (aws:SourceIp, aws:username, credentials-iot:ThingName,
	// kms:EncryptionContext:k …). Key names match case-insensitively; a
	// missing key is absent, not empty.
	Context map[string][]string
}

// Outcome is the result of an evaluation.
type Outcome uint8

// The three outcomes, as AWS names them.
const (
	ImplicitDeny Outcome = iota // no statement allowed the request
	Allow                       // a statement allowed it and none denied it
	ExplicitDeny                // a Deny statement matched
)

func (o Outcome) String() string {
	switch o {
	case Allow:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	}
	return "implicit deny"
}

// Source says what kind of policy decided.
type Source uint8

// The policy sources.
const (
	SourceNone     Source = iota // implicit deny: nothing matched
	SourceIdentity               // an identity policy
	SourceResource               // the resource policy
	SourceKey                    // the KMS key policy
)

func (s Source) String() string {
	switch s {
	case SourceIdentity:
		return "identity-based policy"
	case SourceResource:
		return "resource-based policy"
	case SourceKey:
		return "key policy"
	}
	return "no policy"
}

// Decision is the outcome and the statement that decided it, for audit
// evidence and error messages.
type Decision struct {
	Outcome Outcome
	Source  Source
	// Policy is the deciding policy, nil for an implicit deny; PolicyIndex
	// is its index among the identity policies passed in (0 otherwise).
	Policy      *Policy
	PolicyIndex int
	Statement   int // the deciding statement's index in Policy.Statements
	Sid         string
	// Delegated is set by EvaluateKey when the key policy allowed the
	// action to the caller's account, so identity policies were consulted.
	Delegated bool
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Outcome == Allow }

// String describes the decision for a log line or error message.
func (d Decision) String() string {
	if d.Policy == nil {
		switch {
		case d.Delegated:
			return "implicit deny: the key policy delegates to IAM and no identity-based policy allows the action"
		case d.Source == SourceKey:
			return "implicit deny: the key policy allows no such action"
		}
		return "implicit deny: no policy allows the action"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s by statement %d", d.Outcome, d.Statement)
	if d.Sid != "" {
		fmt.Fprintf(&b, " (Sid %q)", d.Sid)
	}
	fmt.Fprintf(&b, " of the %s", d.Source)
	if d.Source == SourceIdentity {
		fmt.Fprintf(&b, " %d", d.PolicyIndex)
	}
	if name := d.Policy.Name; name != "" {
		fmt.Fprintf(&b, " %q", name)
	} else if d.Policy.ID != "" {
		fmt.Fprintf(&b, " %q", d.Policy.ID)
	}
	return b.String()
}

// principalMatch is how a statement's Principal matched a caller.
type principalMatch uint8

const (
	matchNone    principalMatch = iota
	matchAccount                // through the caller's account (root or account id)
	matchDirect                 // the caller itself, "*", or no Principal element
)

// Evaluate decides a request in one account with AWS's rule for services
// such as KVS: an explicit Deny in any policy wins; otherwise an Allow in
// an identity policy or in the resource policy permits; otherwise the
// request is implicitly denied. resource may be nil; nil identity policies
// are skipped. An account principal in the resource policy matches every
// principal of that account. Cross-account access is not modelled.
func Evaluate(req Request, identity []*Policy, resource *Policy) Decision {
	var allow Decision
	for i, p := range identity {
		if d, denied := scan(&req, p, SourceIdentity, i, &allow); denied {
			return d
		}
	}
	if d, denied := scan(&req, resource, SourceResource, 0, &allow); denied {
		return d
	}
	return allow
}

// EvaluateKey decides a KMS request with AWS's rule for key policies: the
// key policy is the root of trust. Its statements that name the caller (or
// "*") allow directly; a statement that allows the caller's account
// (arn:aws:iam::ACCT:root, "Enable IAM User Permissions") allows the
// account root itself and lets identity policies allow everyone else in the
// account. An explicit Deny in the key policy or an identity policy wins.
func EvaluateKey(req Request, key *Policy, identity []*Policy) Decision {
	var direct, delegated, identityAllow Decision
	if key != nil {
		for i := range key.Statements {
			st := &key.Statements[i]
			m := st.matches(&req)
			if m == matchNone {
				continue
			}
			d := Decision{Source: SourceKey, Policy: key, Statement: i, Sid: st.Sid}
			if st.Effect == EffectDeny {
				d.Outcome = ExplicitDeny
				return d
			}
			d.Outcome = Allow
			switch {
			case m == matchDirect || isRoot(&req.Principal):
				if direct.Policy == nil {
					direct = d
				}
			case delegated.Policy == nil:
				delegated = d
			}
		}
	}
	for i, p := range identity {
		if d, denied := scan(&req, p, SourceIdentity, i, &identityAllow); denied {
			return d
		}
	}
	switch {
	case direct.Policy != nil:
		return direct
	case delegated.Policy != nil && identityAllow.Policy != nil:
		identityAllow.Delegated = true
		return identityAllow
	}
	return Decision{Outcome: ImplicitDeny, Source: SourceKey, Delegated: delegated.Policy != nil}
}

// scan looks for a Deny in p (returned with true) and records the first
// Allow in allow.
func scan(req *Request, p *Policy, src Source, index int, allow *Decision) (Decision, bool) {
	if p == nil {
		return Decision{}, false
	}
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.Effect == EffectAllow && allow.Policy != nil {
			continue // already allowed; only a Deny can change the outcome
		}
		if st.matches(req) == matchNone {
			continue
		}
		d := Decision{Source: src, Policy: p, PolicyIndex: index, Statement: i, Sid: st.Sid}
		if st.Effect == EffectDeny {
			d.Outcome = ExplicitDeny
			return d, true
		}
		d.Outcome = Allow
		*allow = d
	}
	return Decision{}, false
}

// matches reports whether the statement applies to the request, and how its
// principal matched.
func (st *Statement) matches(req *Request) principalMatch {
	if st.Effect == "" || !st.matchesAction(req.Action) || !st.matchesResource(req) {
		return matchNone
	}
	m := matchDirect
	if st.hasPrincipal {
		m = st.matchesPrincipal(&req.Principal)
		if m == matchNone {
			return matchNone
		}
	}
	for i := range st.conditions {
		if !st.conditions[i].eval(req.Context) {
			return matchNone
		}
	}
	return m
}

func (st *Statement) matchesAction(action string) bool {
	for i := range st.actions {
		if ok, _ := st.actions[i].match(action, nil, true); ok {
			return !st.notAction
		}
	}
	return st.notAction
}

func (st *Statement) matchesResource(req *Request) bool {
	if !st.hasResource {
		return true
	}
	for i := range st.resources {
		ok, err := st.resources[i].match(req.Resource, req.Context)
		if err != nil {
			// A Resource whose variable has no value matches nothing, and
			// so excludes nothing from NotResource either.
			return false
		}
		if ok {
			return !st.notResource
		}
	}
	return st.notResource
}

func (st *Statement) matchesPrincipal(p *Principal) principalMatch {
	best := matchNone
	for _, v := range st.principals {
		if m := v.match(p); m > best {
			best = m
		}
	}
	if st.notPrincipal {
		if best == matchNone {
			return matchDirect
		}
		return matchNone
	}
	return best
}

func (v *principalValue) match(p *Principal) principalMatch {
	switch v.kind {
	case principalAnyone:
		return matchDirect
	case principalAccount:
		if acct := p.account(); acct != "" && acct == v.account {
			if p.ARN == v.value {
				return matchDirect
			}
			return matchAccount
		}
	case principalRole:
		if p.ARN == v.value {
			return matchDirect
		}
		// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION is a session of the role.
		if a, ok := splitARN(p.ARN); ok && a.service == "sts" && a.account == v.account {
			if rest, ok := strings.CutPrefix(a.resource, "assumed-role/"); ok {
				if role, _, ok := strings.Cut(rest, "/"); ok && role == v.role {
					return matchDirect
				}
			}
		}
	case principalARN:
		if p.ARN == v.value {
			return matchDirect
		}
	case principalID, principalCanonical:
		if p.ID != "" && p.ID == v.value {
			return matchDirect
		}
	case principalService:
		if p.Service != "" && p.Service == v.value {
			return matchDirect
		}
	case principalFederated:
		if p.Federated != "" && p.Federated == v.value {
			return matchDirect
		}
	}
	return matchNone
}

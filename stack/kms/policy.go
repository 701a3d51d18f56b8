package kms

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
)

// maxPolicyLen is AWS's limit on a key policy document.
const maxPolicyLen = 32768

// anonymousPrincipal is the caller of a request without SigV4 credentials.
const anonymousPrincipal = "anonymous"

// policyDocument is the subset of the IAM policy grammar key policies use here.
type policyDocument struct {
	Version   string          `json:"Version"`
	Statement json.RawMessage `json:"Statement"`
}

type statement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    stringOrList    `json:"Action"`
	Resource  stringOrList    `json:"Resource"`
}

// stringOrList decodes the IAM "one string or a list of strings" form.
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = many
	return nil
}

// policy is a parsed key policy.
type policy struct {
	statements []parsedStatement
}

type parsedStatement struct {
	allow      bool
	principals []string // "*" or AWS principal values
	actions    []string
}

// parsePolicy checks a key policy document and returns it parsed.
func parsePolicy(doc string) (policy, error) {
	if len(doc) == 0 || len(doc) > maxPolicyLen {
		return policy{}, fmt.Errorf("policy must be 1 to %d characters", maxPolicyLen)
	}
	var pd policyDocument
	if err := json.Unmarshal([]byte(doc), &pd); err != nil {
		return policy{}, fmt.Errorf("policy is not a JSON policy document: %v", err)
	}
	var stmts []statement
	if err := json.Unmarshal(pd.Statement, &stmts); err != nil {
		var one statement
		if err := json.Unmarshal(pd.Statement, &one); err != nil {
			return policy{}, errors.New("policy Statement must be an object or a list of objects")
		}
		stmts = []statement{one}
	}
	if len(stmts) == 0 {
		return policy{}, errors.New("policy has no Statement")
	}
	var p policy
	for i, st := range stmts {
		var ps parsedStatement
		switch st.Effect {
		case "Allow":
			ps.allow = true
		case "Deny":
		default:
			return policy{}, fmt.Errorf("policy statement %d: Effect must be Allow or Deny", i)
		}
		principals, err := parsePrincipal(st.Principal)
		if err != nil {
			return policy{}, fmt.Errorf("policy statement %d: %v", i, err)
		}
		if len(st.Action) == 0 {
			return policy{}, fmt.Errorf("policy statement %d: Action is required", i)
		}
		ps.principals = principals
		ps.actions = st.Action
		p.statements = append(p.statements, ps)
	}
	return p, nil
}

func parsePrincipal(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, errors.New("statement needs a Principal")
	}
	var star string
	if err := json.Unmarshal(raw, &star); err == nil {
		if star != "*" {
			return nil, errors.New(`the Principal must be "*" or {"AWS": ...}`)
		}
		return []string{"*"}, nil
	}
	var m map[string]stringOrList
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New(`the Principal must be "*" or {"AWS": ...}`)
	}
	aws, ok := m["AWS"]
	if !ok || len(aws) == 0 {
		return nil, errors.New(`the Principal needs an "AWS" member`)
	}
	return aws, nil
}

// allows reports whether principal may perform action ("kms:Decrypt") under
// this policy: an explicit Deny wins, otherwise an Allow is needed.
func (p policy) allows(account, principal, action string) bool {
	allowed := false
	for _, st := range p.statements {
		if !st.matchesPrincipal(account, principal) || !st.matchesAction(action) {
			continue
		}
		if !st.allow {
			return false
		}
		allowed = true
	}
	return allowed
}

// matchesPrincipal treats every caller as a member of the server's account
// until the IAM issue adds real identities, so the account root (the default
// policy) matches everyone; a statement may also name the caller's access key
// id, alone or as the last element of an ARN in this account.
func (st parsedStatement) matchesPrincipal(account, principal string) bool {
	for _, p := range st.principals {
		switch {
		case p == "*", p == account, p == "arn:aws:iam::"+account+":root":
			return true
		case p == principal:
			return true
		case strings.HasPrefix(p, "arn:aws:iam::"+account+":") && strings.HasSuffix(p, "/"+principal):
			return true
		}
	}
	return false
}

func (st parsedStatement) matchesAction(action string) bool {
	for _, a := range st.actions {
		// path.Match implements the IAM wildcards * and ? for names without '/'.
		if ok, err := path.Match(strings.ToLower(a), strings.ToLower(action)); err == nil && ok {
			return true
		}
	}
	return false
}

// defaultPolicy is the policy AWS gives a key created without one: the
// account has full access.
func defaultPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

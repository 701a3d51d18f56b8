package iam

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Session duration bounds, as in IAM and STS.
const (
	MinSessionDuration     = 15 * time.Minute
	DefaultSessionDuration = time.Hour
	MaxSessionDuration     = 12 * time.Hour
	// MaxPolicyBytes bounds a policy document, as IAM's inline policy limit.
	MaxPolicyBytes = 10_240
)

const allowEverything = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// Role is an IAM role as the Go API shows it.
type Role struct {
	Name string
	// ARN is arn:aws:iam::ACCOUNT:role/NAME; filled in by the service.
	ARN string
	// ID is the role's unique id (AROA…); filled in by the service.
	ID string
	// TrustPolicy says who may assume the role (JSON).
	TrustPolicy string
	// Policies are the identity policies, by policy name (JSON).
	Policies map[string]string
	// MaxSessionDuration caps credentials for the role: 1 to 12 hours,
	// zero means one hour.
	MaxSessionDuration time.Duration
}

// RoleAlias lets certificate holders reach a role through the credential
// provider.
type RoleAlias struct {
	Alias string
	// ARN is arn:aws:iot:REGION:ACCOUNT:rolealias/ALIAS with region "*"
	// left out: the stack has no regions for IoT.
	ARN                string
	RoleARN            string
	CredentialDuration time.Duration
}

var (
	roleNamePattern    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	aliasNamePattern   = regexp.MustCompile(`^[\w=,@-]{1,128}$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func defaultRoles(account string) []Role {
	accountTrust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, account)
	return []Role{{
		Name:        CameraRoleName,
		TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + CredentialProviderService + `"},"Action":"sts:AssumeRole"}]}`,
		Policies: map[string]string{"camstorm-camera-producer": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Action":["kinesisvideo:DescribeStream","kinesisvideo:CreateStream","kinesisvideo:GetDataEndpoint","kinesisvideo:PutMedia","kinesisvideo:TagStream"],` +
			`"Resource":"arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"}]}`},
		MaxSessionDuration: time.Hour,
	}, {
		Name:        ConsumerRoleName,
		TrustPolicy: accountTrust,
		Policies: map[string]string{"camstorm-consumer-read": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Action":["kinesisvideo:GetDataEndpoint","kinesisvideo:DescribeStream","kinesisvideo:ListStreams","kinesisvideo:GetMedia","kinesisvideo:ListFragments","kinesisvideo:GetMediaForFragmentList"],` +
			`"Resource":"*"},{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`},
		MaxSessionDuration: MaxSessionDuration,
	}, {
		Name:               AdminRoleName,
		TrustPolicy:        accountTrust,
		Policies:           map[string]string{"AdministratorAccess": allowEverything},
		MaxSessionDuration: MaxSessionDuration,
	}}
}

// RoleARN is the ARN of the named role in this account.
func (s *Service) RoleARN(name string) string {
	return "arn:aws:iam::" + s.cfg.Account + ":role/" + name
}

// roleNameFromARN returns the role name of a role ARN in this account.
func (s *Service) roleNameFromARN(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, "arn:aws:iam::"+s.cfg.Account+":role/")
	if !ok {
		return "", false
	}
	// Roles may have a path (role/path/NAME); the stack keeps none, so the
	// name is the last element.
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name, roleNamePattern.MatchString(name)
}

func checkPolicy(what, doc string) error {
	if len(doc) > MaxPolicyBytes {
		return fmt.Errorf("%w: %s has %d bytes, more than the %d allowed", ErrInvalid, what, len(doc), MaxPolicyBytes)
	}
	var v struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return fmt.Errorf("%w: %s is not a JSON policy document: %v", ErrInvalid, what, err)
	}
	if len(v.Statement) == 0 {
		return fmt.Errorf("%w: %s has no Statement", ErrInvalid, what)
	}
	return nil
}

// PutRole creates the role or replaces its trust policy, identity policies
// and maximum session duration; the role keeps its id.
func (s *Service) PutRole(r Role) error {
	if err := s.update(func() error { return s.putRoleLocked(r) }); err != nil {
		return err
	}
	s.cfg.Logf("iam: role %s put", r.Name)
	return nil
}

func (s *Service) putRoleLocked(r Role) error {
	if !roleNamePattern.MatchString(r.Name) {
		return fmt.Errorf("%w: role name %q must be 1-64 characters of letters, digits and +=,.@_-", ErrInvalid, r.Name)
	}
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = DefaultSessionDuration
	}
	if r.MaxSessionDuration < time.Hour || r.MaxSessionDuration > MaxSessionDuration || r.MaxSessionDuration%time.Second != 0 {
		return fmt.Errorf("%w: maximum session duration %s of role %s must be whole seconds from 1h to 12h", ErrInvalid, r.MaxSessionDuration, r.Name)
	}
	if err := checkPolicy("the trust policy of role "+r.Name, r.TrustPolicy); err != nil {
		return err
	}
	for name, doc := range r.Policies {
		if !roleNamePattern.MatchString(name) {
			return fmt.Errorf("%w: policy name %q must be 1-64 characters of letters, digits and +=,.@_-", ErrInvalid, name)
		}
		if err := checkPolicy("policy "+name+" of role "+r.Name, doc); err != nil {
			return err
		}
	}
	old := s.st.Roles[r.Name]
	nr := &role{Name: r.Name, TrustPolicy: r.TrustPolicy, Policies: maps.Clone(r.Policies), MaxSession: int64(r.MaxSessionDuration / time.Second)}
	if nr.Policies == nil {
		nr.Policies = map[string]string{}
	}
	if old != nil {
		nr.ID, nr.Created = old.ID, old.Created
	} else {
		id, err := s.newID("AROA")
		if err != nil {
			return err
		}
		nr.ID, nr.Created = id, s.cfg.Clock().UTC()
	}
	s.st.Roles[r.Name] = nr
	return nil
}

// PutRolePolicy adds or replaces one identity policy of a role.
func (s *Service) PutRolePolicy(roleName, policyName, document string) error {
	if !roleNamePattern.MatchString(policyName) {
		return fmt.Errorf("%w: policy name %q must be 1-64 characters of letters, digits and +=,.@_-", ErrInvalid, policyName)
	}
	if err := checkPolicy("policy "+policyName, document); err != nil {
		return err
	}
	err := s.update(func() error {
		r, ok := s.st.Roles[roleName]
		if !ok {
			return fmt.Errorf("%w: role %s does not exist", ErrNotFound, roleName)
		}
		r.Policies[policyName] = document
		return nil
	})
	if err != nil {
		return err
	}
	s.cfg.Logf("iam: policy %s of role %s put", policyName, roleName)
	return nil
}

// Role returns the named role.
func (s *Service) Role(name string) (Role, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.Roles[name]
	if !ok {
		return Role{}, false
	}
	return s.exportRole(r), true
}

func (s *Service) exportRole(r *role) Role {
	return Role{Name: r.Name, ARN: s.RoleARN(r.Name), ID: r.ID, TrustPolicy: r.TrustPolicy,
		Policies: maps.Clone(r.Policies), MaxSessionDuration: time.Duration(r.MaxSession) * time.Second}
}

// RoleTrustPolicy returns the trust policy of the role with that ARN.
func (s *Service) RoleTrustPolicy(roleARN string) (string, bool) {
	name, ok := s.roleNameFromARN(roleARN)
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.Roles[name]
	if !ok {
		return "", false
	}
	return r.TrustPolicy, true
}

// IdentityPolicies returns the identity policy documents (JSON) of the
// principal's role or user, sorted by policy name. The account root has
// none: it is allowed everything its own account's resource policies do
// not deny.
func (s *Service) IdentityPolicies(p Principal) []string {
	if p.Account != s.cfg.Account {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
	var pols map[string]string
	switch p.Type {
	case PrincipalAssumedRole:
		name, ok := s.roleNameFromARN(p.RoleARN)
		if !ok {
			return nil
		}
		if r, ok := s.st.Roles[name]; ok {
			pols = r.Policies
		}
	case PrincipalUser:
		name, ok := strings.CutPrefix(p.ARN, "arn:aws:iam::"+s.cfg.Account+":user/")
		if !ok {
			return nil
		}
		if u, ok := s.st.Users[name]; ok {
			pols = u.Policies
		}
	}
	docs := make([]string, 0, len(pols))
	for _, name := range slices.Sorted(maps.Keys(pols)) {
		docs = append(docs, pols[name])
	}
	return docs
}

// CreateRoleAlias makes (or repoints) a role alias. A zero duration means
// one hour; the duration is clamped to the role's maximum session
// duration, and must be at least 15 minutes.
func (s *Service) CreateRoleAlias(alias, roleName string, credentialDuration time.Duration) (RoleAlias, error) {
	if !aliasNamePattern.MatchString(alias) {
		return RoleAlias{}, fmt.Errorf("%w: role alias %q must be 1-128 characters of letters, digits and =,@_-", ErrInvalid, alias)
	}
	if credentialDuration == 0 {
		credentialDuration = DefaultSessionDuration
	}
	if credentialDuration < MinSessionDuration {
		return RoleAlias{}, fmt.Errorf("%w: credential duration %s of role alias %s is under 15 minutes", ErrInvalid, credentialDuration, alias)
	}
	var ra *roleAlias
	err := s.update(func() error {
		r, ok := s.st.Roles[roleName]
		if !ok {
			return fmt.Errorf("%w: role %s does not exist", ErrNotFound, roleName)
		}
		ra = &roleAlias{Alias: alias, Role: roleName, Duration: min(int64(credentialDuration/time.Second), r.MaxSession)}
		s.st.RoleAliases[alias] = ra
		return nil
	})
	if err != nil {
		return RoleAlias{}, err
	}
	s.cfg.Logf("iam: role alias %s -> role %s (%d s)", alias, roleName, ra.Duration)
	return s.exportAlias(ra), nil
}

// RoleAlias returns the named role alias.
func (s *Service) RoleAlias(alias string) (RoleAlias, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ra, ok := s.st.RoleAliases[alias]
	if !ok {
		return RoleAlias{}, false
	}
	return s.exportAlias(ra), true
}

func (s *Service) exportAlias(ra *roleAlias) RoleAlias {
	return RoleAlias{Alias: ra.Alias, ARN: "arn:aws:iot::" + s.cfg.Account + ":rolealias/" + ra.Alias,
		RoleARN: s.RoleARN(ra.Role), CredentialDuration: time.Duration(ra.Duration) * time.Second}
}

// trustsService reports whether a trust policy has an Allow statement for
// sts:AssumeRole (or a wildcard) naming the service principal. It is the
// one trust check the credential provider needs, so it does not wait for a
// general policy evaluator; a Deny anywhere naming the service wins.
func trustsService(trustPolicy, service string) bool {
	var doc struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(trustPolicy), &doc) != nil {
		return false
	}
	type statement struct {
		Effect    string
		Principal json.RawMessage
		Action    json.RawMessage
	}
	var stmts []statement
	if json.Unmarshal(doc.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(doc.Statement, &one) != nil {
			return false
		}
		stmts = []statement{one}
	}
	allowed := false
	for _, st := range stmts {
		var p struct{ Service json.RawMessage }
		if json.Unmarshal(st.Principal, &p) != nil || !containsString(p.Service, service) {
			continue
		}
		if !containsString(st.Action, "sts:AssumeRole") && !containsString(st.Action, "sts:*") && !containsString(st.Action, "*") {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// containsString reports whether a JSON string or list of strings holds want.
func containsString(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var list []string
	return json.Unmarshal(raw, &list) == nil && slices.Contains(list, want)
}

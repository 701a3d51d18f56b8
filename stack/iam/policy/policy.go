// Package policy parses and evaluates AWS IAM-style policy documents
// (identity policies, resource policies such as KVS stream policies, and KMS
// key policies) for the reference stack.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDocumentSize is the largest policy document Parse accepts, in bytes:
// AWS's limit for a KMS key policy (32 KiB); IAM's own limits are smaller.
const MaxDocumentSize = 32 * 1024

// maxProblems bounds the problems one MalformedError lists.
const maxProblems = 50

// The policy language versions. Policy variables are substituted only in
// Version2012; under Version2008 (and with no Version, which AWS reads as
// 2008-10-17) "${...}" is literal text.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effect is a statement's Effect.
type Effect string

// The two effects.
const (
	EffectAllow Effect = "Allow"
	EffectDeny  Effect = "Deny"
)

// Policy is a parsed, compiled policy document. It is immutable and safe for
// concurrent use.
type Policy struct {
	Version    string
	ID         string // the document's Id
	Name       string // set by the caller (e.g. "role/camera inline"); named in decisions
	Statements []Statement
}

// Statement is one compiled statement.
type Statement struct {
	Sid    string
	Effect Effect

	hasPrincipal bool
	notPrincipal bool
	principals   []principalValue

	notAction bool
	actions   []template

	hasResource bool
	notResource bool
	resources   []arnPattern

	conditions []condition
}

// HasPrincipal reports whether the statement names a Principal or
// NotPrincipal (resource policies do, identity policies do not).
func (s *Statement) HasPrincipal() bool { return s.hasPrincipal }

// ErrMalformed is what every MalformedError matches with errors.Is.
var ErrMalformed = errors.New("malformed policy document")

// MalformedError is AWS's MalformedPolicyDocument: every problem found in a
// document, at once.
type MalformedError struct {
	Problems []Problem
}

// Problem is one thing wrong with a document.
type Problem struct {
	Statement int    // index in Statement, or -1 for the document itself
	Sid       string // the statement's Sid, if any
	Field     string // "Effect", "Condition.StringEquals.aws:SourceIp", …
	Message   string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Statement >= 0 {
		fmt.Fprintf(&b, "statement %d", p.Statement)
		if p.Sid != "" {
			fmt.Fprintf(&b, " (Sid %q)", p.Sid)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func (e *MalformedError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "MalformedPolicyDocument: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Kind says which rules of the grammar a document must follow besides the
// common ones.
type Kind uint8

const (
	// AnyKind accepts statements with or without Principal and Resource. A
	// statement without Principal applies to whoever the policy is attached
	// to, one without Resource to every resource (as in a role's trust policy).
	AnyKind Kind = iota
	// IdentityKind is a policy attached to a user or role: no Principal,
	// and Resource or NotResource is required.
	IdentityKind
	// ResourceKind is a policy attached to a resource (a stream, a KMS key):
	// Principal or NotPrincipal is required. Resource may be left out and
	// then means the resource the policy is attached to.
	ResourceKind
)

// Parse checks and compiles a policy document of any kind.
func Parse(doc []byte) (*Policy, error) { return ParseKind(doc, AnyKind) }

// ParseKind checks and compiles a policy document, also applying the rules
// of its kind. A malformed document gives a *MalformedError listing every
// problem.
func ParseKind(doc []byte, kind Kind) (*Policy, error) {
	ps := &problems{}
	p := ps.document(doc, kind)
	if len(ps.list) > 0 {
		return nil, &MalformedError{Problems: ps.list}
	}
	return p, nil
}

type problems struct {
	list []Problem
}

func (ps *problems) add(stmt int, sid, field, format string, args ...any) {
	if len(ps.list) == maxProblems {
		ps.list = append(ps.list, Problem{Statement: -1, Message: "more problems not listed"})
	}
	if len(ps.list) > maxProblems {
		return
	}
	ps.list = append(ps.list, Problem{Statement: stmt, Sid: clip(sid), Field: clip(field), Message: clip(fmt.Sprintf(format, args...))})
}

// clip shortens what a problem quotes from the document, so that an error
// stays small whatever the document holds.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (ps *problems) document(doc []byte, kind Kind) *Policy {
	if len(doc) == 0 {
		ps.add(-1, "", "", "the document is empty")
		return nil
	}
	if len(doc) > MaxDocumentSize {
		ps.add(-1, "", "", "the document is %d bytes; at most %d are allowed", len(doc), MaxDocumentSize)
		return nil
	}
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v)
		ps.add(-1, "", "", "not valid JSON: %v", err)
		return nil
	}
	members, err := objectMembers(doc)
	if err != nil {
		ps.add(-1, "", "", "the document %v", err)
		return nil
	}
	p := &Policy{}
	var statements json.RawMessage
	for _, m := range members {
		switch m.name {
		case "Version":
			if err := json.Unmarshal(m.value, &p.Version); err != nil || (p.Version != Version2012 && p.Version != Version2008) {
				ps.add(-1, "", "Version", "must be %q or %q", Version2012, Version2008)
			}
		case "Id":
			if err := json.Unmarshal(m.value, &p.ID); err != nil {
				ps.add(-1, "", "Id", "must be a string")
			}
		case "Statement":
			statements = m.value
		default:
			ps.add(-1, "", m.name, "is not an element of a policy document (Version, Id, Statement)")
		}
	}
	var raws []json.RawMessage
	switch jsonKind(statements) {
	case 0:
		ps.add(-1, "", "Statement", "is required")
	case '{':
		raws = []json.RawMessage{statements}
	case '[':
		if err := json.Unmarshal(statements, &raws); err != nil || len(raws) == 0 {
			ps.add(-1, "", "Statement", "must be an object or a non-empty list of objects")
		}
	default:
		ps.add(-1, "", "Statement", "must be an object or a non-empty list of objects")
	}
	variables := p.Version == Version2012
	sids := map[string]int{}
	for i, raw := range raws {
		st := ps.statement(i, raw, kind, variables)
		if st.Sid != "" {
			if j, dup := sids[st.Sid]; dup {
				ps.add(i, st.Sid, "Sid", "statement %d has the same Sid; Sids must be unique in a policy", j)
			}
			sids[st.Sid] = i
		}
		p.Statements = append(p.Statements, st)
	}
	return p
}

func (ps *problems) statement(i int, raw json.RawMessage, kind Kind, variables bool) Statement {
	var st Statement
	members, err := objectMembers(raw)
	if err != nil {
		ps.add(i, "", "", "a statement %v", err)
		return st
	}
	for _, m := range members { // the Sid first, so that every problem can name it
		if m.name == "Sid" {
			if err := json.Unmarshal(m.value, &st.Sid); err != nil {
				ps.add(i, "", "Sid", "must be a string")
			}
		}
	}
	add := func(field, format string, args ...any) { ps.add(i, st.Sid, field, format, args...) }
	var hasAction bool
	for _, m := range members {
		switch m.name {
		case "Sid":
		case "Effect":
			var e string
			_ = json.Unmarshal(m.value, &e)
			switch Effect(e) {
			case EffectAllow, EffectDeny:
				st.Effect = Effect(e)
			default:
				add("Effect", `must be "Allow" or "Deny"`)
			}
		case "Principal", "NotPrincipal":
			if st.hasPrincipal {
				add(m.name, "a statement takes Principal or NotPrincipal, not both")
				continue
			}
			st.hasPrincipal, st.notPrincipal = true, m.name == "NotPrincipal"
			vals, err := parsePrincipal(m.value)
			if err != nil {
				add(m.name, "%v", err)
			}
			st.principals = vals
		case "Action", "NotAction":
			if hasAction {
				add(m.name, "a statement takes Action or NotAction, not both")
				continue
			}
			hasAction, st.notAction = true, m.name == "NotAction"
			list, err := stringOrList(m.value)
			if err != nil {
				add(m.name, "%v", err)
				continue
			}
			for _, a := range list {
				if msg := checkAction(a); msg != "" {
					add(m.name, "%q %s", a, msg)
					continue
				}
				t, _ := compile(a, compileOptions{wildcards: true, fold: true})
				st.actions = append(st.actions, t)
			}
		case "Resource", "NotResource":
			if st.hasResource {
				add(m.name, "a statement takes Resource or NotResource, not both")
				continue
			}
			st.hasResource, st.notResource = true, m.name == "NotResource"
			list, err := stringOrList(m.value)
			if err != nil {
				add(m.name, "%v", err)
				continue
			}
			for _, r := range list {
				if r != "*" && !strings.HasPrefix(r, "arn:") {
					add(m.name, "%q must be an ARN or *", r)
					continue
				}
				pat, err := compileARN(r, compileOptions{wildcards: true, variables: variables})
				if err != nil {
					add(m.name, "%v", err)
					continue
				}
				st.resources = append(st.resources, pat)
			}
		case "Condition":
			st.conditions = ps.conditionBlock(m.value, variables, add)
		default:
			add(m.name, "is not an element of a statement (Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition)")
		}
	}
	if st.Effect == "" && !hasMember(members, "Effect") {
		add("Effect", "is required")
	}
	if !hasAction {
		add("Action", "a statement needs Action or NotAction")
	}
	switch kind {
	case IdentityKind:
		if st.hasPrincipal {
			add("Principal", "an identity policy must not name a principal; it applies to the identity it is attached to")
		}
		if !st.hasResource {
			add("Resource", "an identity policy statement needs Resource or NotResource")
		}
	case ResourceKind:
		if !st.hasPrincipal {
			add("Principal", "a resource policy statement needs Principal or NotPrincipal")
		}
	}
	return st
}

func hasMember(ms []member, name string) bool {
	for _, m := range ms {
		if m.name == name {
			return true
		}
	}
	return false
}

// checkAction returns what is wrong with an action name, or "".
func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	service, name, ok := strings.Cut(a, ":")
	switch {
	case !ok || service == "" || name == "":
		return `must be "*" or service:Action, as in kinesisvideo:PutMedia`
	case strings.ContainsAny(service, "*?"):
		return "has a wildcard in the service prefix; only the action name may have one"
	case strings.ContainsAny(a, " \t\r\n"):
		return "must not contain white space"
	}
	return ""
}

func (ps *problems) conditionBlock(raw json.RawMessage, variables bool, add func(field, format string, args ...any)) []condition {
	ops, err := objectMembers(raw)
	if err != nil {
		add("Condition", "%v", err)
		return nil
	}
	var out []condition
	for _, op := range ops {
		proto, err := parseOperator(op.name)
		if err != nil {
			add("Condition", "%v", err)
			continue
		}
		keys, err := objectMembers(op.value)
		if err != nil {
			add("Condition."+op.name, "%v (it maps condition keys to values)", err)
			continue
		}
		if len(keys) == 0 {
			add("Condition."+op.name, "names no condition key")
		}
		for _, k := range keys {
			field := "Condition." + op.name + "." + k.name
			if k.name == "" {
				add(field, "the condition key is empty")
				continue
			}
			vals, err := scalarOrList(k.value)
			if err != nil {
				add(field, "%v", err)
				continue
			}
			c := proto
			c.key = k.name
			bad := false
			for _, s := range vals {
				v, err := c.parseValue(s, variables)
				if err != nil {
					add(field, "%v", err)
					bad = true
					continue
				}
				c.values = append(c.values, v)
			}
			if !bad {
				out = append(out, c)
			}
		}
	}
	return out
}

// principalValue is one compiled entry of a Principal element.
type principalValue struct {
	kind    principalKind
	value   string
	account string // for account and role values
	role    string // the role's name without its path, for role values
}

type principalKind uint8

const (
	principalAnyone    principalKind = iota // "*"
	principalAccount                        // 123456789012 or arn:aws:iam::123456789012:root
	principalRole                           // arn:aws:iam::ACCT:role/PATH/NAME, matching its sessions
	principalARN                            // any other ARN: exact
	principalID                             // a unique id (AIDA…, AROA…) or other opaque name: exact
	principalService                        // "Service": kinesisvideo.amazonaws.com
	principalFederated                      // "Federated": cognito-identity.amazonaws.com, a SAML provider ARN
	principalCanonical                      // "CanonicalUser" (S3)
)

func parsePrincipal(raw json.RawMessage) ([]principalValue, error) {
	if jsonKind(raw) == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "*" {
			return nil, errors.New(`must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`)
		}
		return []principalValue{{kind: principalAnyone}}, nil
	}
	members, err := objectMembers(raw)
	if err != nil {
		return nil, fmt.Errorf(`must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}: %v`, err)
	}
	if len(members) == 0 {
		return nil, errors.New("names no principal")
	}
	var out []principalValue
	var errs []error
	for _, m := range members {
		list, err := stringOrList(m.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %v", m.name, err))
			continue
		}
		for _, v := range list {
			pv, err := principalOf(m.name, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, pv)
		}
	}
	return out, errors.Join(errs...)
}

func principalOf(typ, v string) (principalValue, error) {
	if v == "" {
		return principalValue{}, fmt.Errorf("%s has an empty principal", typ)
	}
	if v != "*" && strings.ContainsAny(v, "*?") {
		return principalValue{}, fmt.Errorf("%s %q: a principal cannot have wildcards; use a Condition on aws:PrincipalArn with ArnLike instead", typ, v)
	}
	switch typ {
	case "Service":
		return principalValue{kind: principalService, value: v}, nil
	case "Federated":
		return principalValue{kind: principalFederated, value: v}, nil
	case "CanonicalUser":
		return principalValue{kind: principalCanonical, value: v}, nil
	case "AWS":
	default:
		return principalValue{}, fmt.Errorf("%q is not a principal type (AWS, Service, Federated, CanonicalUser)", typ)
	}
	if v == "*" {
		return principalValue{kind: principalAnyone}, nil
	}
	if isAccountID(v) {
		return principalValue{kind: principalAccount, account: v, value: v}, nil
	}
	if !strings.HasPrefix(v, "arn:") {
		return principalValue{kind: principalID, value: v}, nil
	}
	a, ok := splitARN(v)
	if !ok {
		return principalValue{}, fmt.Errorf("AWS %q is not an ARN of the form arn:partition:service:region:account:resource", v)
	}
	switch {
	case a.service == "iam" && a.resource == "root":
		return principalValue{kind: principalAccount, account: a.account, value: v}, nil
	case a.service == "iam" && strings.HasPrefix(a.resource, "role/"):
		name := a.resource[strings.LastIndexByte(a.resource, '/')+1:]
		return principalValue{kind: principalRole, account: a.account, role: name, value: v}, nil
	}
	return principalValue{kind: principalARN, value: v}, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

type arnParts struct {
	partition, service, region, account, resource string
}

// splitARN splits an ARN into its components without allocating.
func splitARN(s string) (arnParts, bool) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return arnParts{}, false
	}
	var f [4]string
	for i := range f {
		var found bool
		f[i], rest, found = strings.Cut(rest, ":")
		if !found {
			return arnParts{}, false
		}
	}
	return arnParts{f[0], f[1], f[2], f[3], rest}, true
}

package kms

import "testing"

func TestPolicyEvaluation(t *testing.T) {
	const account = "123456789012"
	doc := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"AKIDA"},"Action":"kms:Decrypt","Resource":"*"},
	 {"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKey?eletion","Resource":"*"}]}`
	p, err := parsePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		principal, action string
		want              bool
	}{
		{"AKIDA", "kms:Decrypt", false},
		{"AKIDA", "kms:decrypt", false},
		{"AKIDA", "kms:Encrypt", true},
		{"AKIDB", "kms:Decrypt", true},
		{anonymousPrincipal, "kms:Decrypt", true},
		{"AKIDB", "kms:ScheduleKeyDeletion", false},
	} {
		if got := p.allows(account, tc.principal, tc.action); got != tc.want {
			t.Errorf("allows(%s, %s) = %v, want %v", tc.principal, tc.action, got, tc.want)
		}
	}
	only, err := parsePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":["AKIDC"]},"Action":["kms:Encrypt","kms:Describe*"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !only.allows(account, "AKIDC", "kms:DescribeKey") || only.allows(account, "AKIDC", "kms:Decrypt") || only.allows(account, "AKIDD", "kms:Encrypt") {
		t.Error("an Allow must name the principal and the action; anything else is denied")
	}
	for _, bad := range []string{``, `{}`, `{"Statement":[]}`, `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"kms:*"}]}`, `{"Statement":[{"Effect":"Allow","Principal":"someone","Action":"kms:*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":7}]}`} {
		if _, err := parsePolicy(bad); err == nil {
			t.Errorf("parsePolicy(%s) accepted a malformed policy", bad)
		}
	}
}

func TestKeyAndAliasCountsAreBounded(t *testing.T) {
	defer func(k, a int) { maxKeys, maxAliases = k, a }(maxKeys, maxAliases)
	maxKeys, maxAliases = 3, 2 // the managed key and its alias already count
	s, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := &call{op: "CreateKey", principal: "AKID", body: []byte(`{}`)}
	var ids []string
	for range 2 {
		out, err := s.createKey(c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.(map[string]any)["KeyMetadata"].(keyMetadata).KeyId)
	}
	if _, err := s.createKey(c); err == nil || err.(*apiError).Type != "LimitExceededException" {
		t.Fatalf("CreateKey beyond the limit = %v", err)
	}
	alias := &call{op: "CreateAlias", principal: "AKID", body: []byte(`{"AliasName":"alias/one","TargetKeyId":"` + ids[0] + `"}`)}
	if _, err := s.createAlias(alias); err != nil {
		t.Fatal(err)
	}
	alias.body = []byte(`{"AliasName":"alias/two","TargetKeyId":"` + ids[0] + `"}`)
	if _, err := s.createAlias(alias); err == nil || err.(*apiError).Type != "LimitExceededException" {
		t.Fatalf("CreateAlias beyond the limit = %v", err)
	}
}

func TestReplayedRandDoesNotOverwriteKeys(t *testing.T) {
	dir := t.TempDir()
	seeded := func() *zeroReader { return &zeroReader{} }
	s, err := New(Config{DataDir: dir, Rand: seeded()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = New(Config{DataDir: dir, Rand: seeded()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.createKey(&call{op: "CreateKey", principal: "AKID"}); err == nil {
		t.Fatal("a replayed Rand must not produce the managed key's id again silently")
	}
}

// zeroReader is the most predictable Rand there is.
type zeroReader struct{}

func (*zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

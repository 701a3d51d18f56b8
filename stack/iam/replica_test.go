package iam

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplicaVerifiesWhatTheServiceIssues: a replica opened on the
// identity service's directory verifies the admin key and session tokens
// the service issues after the replica opened (no shared index), sees
// policy changes after ReplicaRefresh, issues tokens the service
// verifies, and refuses every change.
func TestReplicaVerifiesWhatTheServiceIssues(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	clock := func() time.Time { return now }
	_, err := OpenReplica(Config{DataDir: t.TempDir()})
	require.ErrorContains(t, err, "start the identity service first")
	r, err := OpenReplica(Config{DataDir: filepath.Join(e.dir, "iam"), Clock: clock})
	require.NoError(t, err)
	defer r.Close()

	admin := e.svc.AdminCredential()
	got, ok := r.LookupCredential(admin.AccessKeyID, "")
	require.True(t, ok)
	require.Equal(t, admin.SecretAccessKey, got.SecretAccessKey)

	consumer, err := e.svc.AssumeRole(admin.Principal, e.svc.RoleARN(ConsumerRoleName), "viewer", time.Hour)
	require.NoError(t, err)
	got, ok = r.LookupCredential(consumer.AccessKeyID, consumer.SessionToken)
	require.True(t, ok, "a token issued after the replica opened")
	require.Equal(t, consumer.Principal, got.Principal)
	_, ok = r.LookupCredential(consumer.AccessKeyID, consumer.SessionToken[:len(consumer.SessionToken)-4]+"AAAA")
	require.False(t, ok, "a tampered token")

	require.NoError(t, e.svc.PutRolePolicy(ConsumerRoleName, "extra", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kinesisvideo:GetMedia","Resource":"*"}]}`))
	require.NotContains(t, r.IdentityPolicies(consumer.Principal), `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kinesisvideo:GetMedia","Resource":"*"}]}`,
		"not before ReplicaRefresh")
	now = now.Add(ReplicaRefresh + time.Millisecond)
	require.Contains(t, r.IdentityPolicies(consumer.Principal), `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kinesisvideo:GetMedia","Resource":"*"}]}`)

	own, err := r.AssumeRole(admin.Principal, r.RoleARN(ConsumerRoleName), "replica", time.Hour)
	require.NoError(t, err)
	got, ok = e.svc.LookupCredential(own.AccessKeyID, own.SessionToken)
	require.True(t, ok, "the service verifies what the replica issued")
	require.Equal(t, own.Principal, got.Principal)

	require.ErrorIs(t, r.PutRolePolicy(ConsumerRoleName, "x", `{"Version":"2012-10-17","Statement":[]}`), ErrReadOnly)
	_, err = r.RotateEnrollmentToken()
	require.Error(t, err)
}

package iam

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"
)

func logLines(t *testing.T, e *env) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "iam", SessionLogFile))
	require.NoError(t, err)
	return bytes.Count(b, []byte("\n"))
}

func TestSessionLogSurvivesTornWritesAndForgetsExpired(t *testing.T) {
	e := newEnv(t)
	admin := e.svc.AdminCredential().Principal
	consumer := e.svc.RoleARN(ConsumerRoleName)
	short, err := e.svc.AssumeRole(admin, consumer, "short", 15*time.Minute)
	require.NoError(t, err)
	long, err := e.svc.AssumeRole(admin, consumer, "long", 12*time.Hour)
	require.NoError(t, err)
	require.NoError(t, e.svc.Close())

	// A crash mid-append leaves a partial line; a foreign line is noise.
	f, err := os.OpenFile(filepath.Join(e.dir, "iam", SessionLogFile), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("not a token\n" + long.SessionToken[:40])
	require.NoError(t, err)
	require.NoError(t, f.Close())

	e.open()
	for _, c := range []Credential{short, long} {
		got, ok := e.svc.LookupAccessKey(c.AccessKeyID)
		require.True(t, ok, "%s after a torn write", c.Principal.SessionName)
		require.Equal(t, c, got)
	}
	require.Equal(t, 2, logLines(t, e), "opening compacts the log to the live credentials")

	// Expired credentials stay known for ExpiredSessionRetention, then go.
	e.clock.Advance(15*time.Minute + time.Second)
	got, ok := e.svc.LookupAccessKey(short.AccessKeyID)
	require.True(t, ok)
	require.True(t, got.Expired(e.clock.Now()), "expired, still known: the verifier can say ExpiredToken")
	e.clock.Advance(ExpiredSessionRetention)
	_, err = e.svc.AssumeRole(admin, consumer, "later", 0) // issuing purges
	require.NoError(t, err)
	_, ok = e.svc.LookupAccessKey(short.AccessKeyID)
	require.False(t, ok, "purged after the retention")
	_, ok = e.svc.LookupCredential(short.AccessKeyID, short.SessionToken)
	require.True(t, ok, "the token itself still proves the (expired) credential")
	_, ok = e.svc.LookupAccessKey(long.AccessKeyID)
	require.True(t, ok)

	require.NoError(t, e.svc.Close())
	e.open()
	_, ok = e.svc.LookupAccessKey(short.AccessKeyID)
	require.False(t, ok, "purged credentials do not come back after a restart")
	require.Equal(t, 2, logLines(t, e))
}

func TestSessionLogCompactsWhileRunning(t *testing.T) {
	e := newEnv(t)
	admin := e.svc.AdminCredential().Principal
	consumer := e.svc.RoleARN(ConsumerRoleName)
	const n = 1100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 20 {
		wg.Go(func() {
			for i := w; i < n; i += 20 {
				_, err := e.svc.AssumeRole(admin, consumer, "s-"+string(rune('a'+w)), 15*time.Minute)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, n, logLines(t, e))

	e.clock.Advance(15*time.Minute + ExpiredSessionRetention + time.Minute)
	c, err := e.svc.AssumeRole(admin, consumer, "after", 0)
	require.NoError(t, err)
	require.Equal(t, 1, logLines(t, e), "the log is rewritten once it is mostly dead lines")
	_, ok := e.svc.LookupAccessKey(c.AccessKeyID)
	require.True(t, ok)
	// Appends continue on the compacted file.
	c2, err := e.svc.AssumeRole(admin, consumer, "after2", 0)
	require.NoError(t, err)
	require.Equal(t, 2, logLines(t, e))
	require.NoError(t, e.svc.Close())
	e.open()
	for _, c := range []Credential{c, c2} {
		_, ok := e.svc.LookupAccessKey(c.AccessKeyID)
		require.True(t, ok)
	}
}

func TestLiveSessionLimit(t *testing.T) {
	e := newEnv(t)
	e.svc.sess.limit = 2
	cert, _ := e.enrollDevice("cam-l")
	c := e.client(cert)
	for i := range 2 {
		res, err := e.fetch(c, CameraRoleAlias, "")
		require.NoError(t, err)
		require.Equal(t, 200, res.status, "credential %d of 2", i+1)
	}
	res, err := e.fetch(c, CameraRoleAlias, "")
	require.NoError(t, err)
	require.Equal(t, 429, res.status, "%s", res.body)
	require.Equal(t, "ThrottlingException", res.errorType)

	_, err = e.stsClient(e.svc.AdminCredential()).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(e.svc.RoleARN(ConsumerRoleName)), RoleSessionName: aws.String("s1")})
	require.Equal(t, "Throttling", apiErrorCode(err), "%v", err)

	// Room again once the old ones are purged.
	e.clock.Advance(time.Hour + ExpiredSessionRetention + time.Minute)
	_, err = e.svc.AssumeRole(e.svc.AdminCredential().Principal, e.svc.RoleARN(ConsumerRoleName), "s2", 0)
	require.NoError(t, err)
}

package stack_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// TestRolesApart: the identity service, the KMS and the ingest started as
// three stacks of one role each, sharing only the CA's and the identity
// state's directories (as containers share volumes). A camera enrols with
// the identity service, signs with its IoT credentials, and its fragments
// are encrypted under a data key the ingest gets from the other KMS; a
// consumer reads them back; a camera's call on another stream is refused
// by the ingest from the shared identity state.
func TestRolesApart(t *testing.T) {
	shared := t.TempDir()
	pkiDir, idDir := filepath.Join(shared, "pki"), filepath.Join(shared, "iam")
	start := func(o stack.Options) *stack.Stack {
		o.DataDir, o.PKIDir, o.IdentityDir = t.TempDir(), pkiDir, idDir
		st, err := stack.Start(context.Background(), o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close(context.Background()) })
		return st
	}
	id := start(stack.Options{Role: stack.RoleIdentity})
	km := start(stack.Options{Role: stack.RoleKMS})
	in := start(stack.Options{Role: stack.RoleIngest, KMSURL: km.KMSURL})
	require.Empty(t, id.ControlPlaneURL)
	require.Empty(t, in.STSURL)
	require.NotEmpty(t, in.ControlPlaneURL)

	// Clients see one stack: the ingest's planes and the identity
	// service's enrollment, provider and STS (the ingest's handle is told
	// where those are).
	in.EnrollURL, in.EnrollmentToken, in.IoTCredentialsURL, in.STSURL = id.EnrollURL, id.EnrollmentToken, id.IoTCredentialsURL, id.STSURL
	exerciseStack(t, in)
}

// exerciseStack runs a camera and a consumer through a stack, however it
// runs: a camera enrols with the identity service, signs with its IoT
// credentials, and its fragments are encrypted under a data key the
// ingest gets from the KMS; a consumer reads them back; a camera's call on
// another stream is refused by the ingest from the identity state.
func exerciseStack(t *testing.T, in *stack.Stack) {
	t.Helper()
	cam, _ := camera(t, in, "cam-apart")
	ctx := context.Background()
	require.NoError(t, kvsclient.Call(ctx, cam, in.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "cam-apart", DataRetentionInHours: 1}, nil))
	acks, err := putOne(ctx, cam, in, "cam-apart")
	require.NoError(t, err)
	require.Equal(t, kvsapi.EventPersisted, acks[len(acks)-1].EventType, "%v", acks)
	err = kvsclient.Call(ctx, cam, in.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "someone-else"}, nil)
	require.True(t, kvsclient.IsException(err, "AccessDeniedException"), "%v", err)

	numbers := fragmentsOf(t, in, "cam-apart")
	require.Len(t, numbers, 1)
	consumer := signedAs(in, in.AssumeRole(in.ConsumerRoleARN, "apart-reader"), nil)
	resp, err := consumer.Post(in.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType,
		jsonBody(t, kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-apart"}, Fragments: numbers}))
	require.NoError(t, err)
	defer resp.Body.Close()
	out := readAll(t, resp.Body)
	require.Equal(t, 1, countMarker(out), "the fragment decrypts through the KMS")
}

// TestContainersStack: the same exercise against the stack as three
// containers of camstorm's own image.
func TestContainersStack(t *testing.T) {
	containers.SkipIfNoDocker(t)
	ctx := context.Background()
	t0 := time.Now()
	st, err := stack.StartContainers(ctx, stack.Options{}, stack.ContainersOptions{Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close(context.Background())) })
	t.Logf("containers stack up in %s", time.Since(t0).Round(time.Millisecond))
	exerciseStack(t, st)
}

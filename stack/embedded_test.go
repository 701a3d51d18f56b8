package stack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kv "github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/camstorm/camstorm/stack"
	"github.com/stretchr/testify/require"
)

func startStack(t *testing.T, dir string) *stack.Stack {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// sdkClient is the AWS SDK for Go v2 KVS client with nothing changed but the
// endpoint and the trusted CA.
func sdkClient(st *stack.Stack) *kv.Client {
	cfg := aws.Config{
		Region:      st.Region,
		Credentials: st.AdminCredentials(),
		HTTPClient:  st.HTTPClient(),
	}
	return kv.NewFromConfig(cfg, func(o *kv.Options) { o.BaseEndpoint = aws.String(st.ControlPlaneURL) })
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestControlPlaneWithAWSSDK(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		c := sdkClient(st)

		out, err := c.CreateStream(ctx, &kv.CreateStreamInput{
			StreamName: aws.String("cam-1"), MediaType: aws.String("video/h264"),
			DataRetentionInHours: aws.Int32(2), DeviceName: aws.String("dev-1"),
			Tags: map[string]string{"site": "lab"},
		})
		require.NoError(t, err)
		require.Regexp(t, `^arn:aws:kinesisvideo:us-east-1:\d+:stream/cam-1/\d+$`, aws.ToString(out.StreamARN))

		_, err = c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("cam-1")})
		var inUse *kvtypes.ResourceInUseException
		require.ErrorAs(t, err, &inUse, "CreateStream of an existing stream")

		d, err := c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
		require.NoError(t, err)
		info := d.StreamInfo
		require.Equal(t, kvtypes.StatusActive, info.Status)
		require.Equal(t, int32(2), aws.ToInt32(info.DataRetentionInHours))
		require.Equal(t, "video/h264", aws.ToString(info.MediaType))
		require.Equal(t, "dev-1", aws.ToString(info.DeviceName))
		require.Equal(t, out.StreamARN, info.StreamARN)
		require.True(t, strings.HasSuffix(aws.ToString(info.KmsKeyId), ":alias/aws/kinesisvideo"), aws.ToString(info.KmsKeyId))
		require.WithinDuration(t, time.Now(), aws.ToTime(info.CreationTime), time.Minute)

		byARN, err := c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamARN: out.StreamARN})
		require.NoError(t, err)
		require.Equal(t, "cam-1", aws.ToString(byARN.StreamInfo.StreamName))

		_, err = c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("nope")})
		var nf *kvtypes.ResourceNotFoundException
		require.ErrorAs(t, err, &nf, "DescribeStream of a missing stream")

		ep, err := c.GetDataEndpoint(ctx, &kv.GetDataEndpointInput{StreamName: aws.String("cam-1"), APIName: kvtypes.APINamePutMedia})
		require.NoError(t, err)
		require.Equal(t, st.DataPlaneURL, aws.ToString(ep.DataEndpoint))

		_, err = c.TagStream(ctx, &kv.TagStreamInput{StreamName: aws.String("cam-1"), Tags: map[string]string{"owner": "qa"}})
		require.NoError(t, err)
		tags, err := c.ListTagsForStream(ctx, &kv.ListTagsForStreamInput{StreamName: aws.String("cam-1")})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"site": "lab", "owner": "qa"}, tags.Tags)

		_, err = c.UpdateDataRetention(ctx, &kv.UpdateDataRetentionInput{
			StreamName: aws.String("cam-1"), CurrentVersion: aws.String("stale"),
			Operation: kvtypes.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(1),
		})
		var vm *kvtypes.VersionMismatchException
		require.ErrorAs(t, err, &vm, "UpdateDataRetention with a stale version")
		d, err = c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
		require.NoError(t, err)
		_, err = c.UpdateDataRetention(ctx, &kv.UpdateDataRetentionInput{
			StreamName: aws.String("cam-1"), CurrentVersion: d.StreamInfo.Version,
			Operation: kvtypes.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(3),
		})
		require.NoError(t, err)
		d2, err := c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
		require.NoError(t, err)
		require.Equal(t, int32(5), aws.ToInt32(d2.StreamInfo.DataRetentionInHours))
		require.NotEqual(t, aws.ToString(d.StreamInfo.Version), aws.ToString(d2.StreamInfo.Version), "an update changes the version")

		for _, n := range []string{"cam-2", "cam-3", "other"} {
			_, err := c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String(n)})
			require.NoError(t, err)
		}
		var names []string
		p := kv.NewListStreamsPaginator(c, &kv.ListStreamsInput{MaxResults: aws.Int32(2),
			StreamNameCondition: &kvtypes.StreamNameCondition{ComparisonOperator: kvtypes.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("cam-")}})
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			require.NoError(t, err)
			pages++
			for _, s := range page.StreamInfoList {
				names = append(names, aws.ToString(s.StreamName))
			}
		}
		require.Equal(t, []string{"cam-1", "cam-2", "cam-3"}, names)
		require.Equal(t, 2, pages, "MaxResults 2 over 3 streams is two pages")

		_, err = c.DeleteStream(ctx, &kv.DeleteStreamInput{StreamARN: out.StreamARN})
		require.NoError(t, err)
		_, err = c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
		require.ErrorAs(t, err, &nf, "a deleted stream is gone")
		_, err = c.DeleteStream(ctx, &kv.DeleteStreamInput{StreamARN: out.StreamARN})
		require.ErrorAs(t, err, &nf, "deleting twice")
	})
}

func TestControlPlaneRejectsBadInput(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		c := sdkClient(st)
		for _, tc := range []struct {
			name string
			call func() error
			want string
		}{
			{"invalid stream name", func() error {
				_, err := c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("bad name!")})
				return err
			}, "InvalidArgumentException"},
			{"negative retention", func() error {
				_, err := c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("x"), DataRetentionInHours: aws.Int32(-1)})
				return err
			}, "InvalidArgumentException"},
			{"bad APIName", func() error {
				_, err := c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("y")})
				if err != nil {
					return err
				}
				_, err = c.GetDataEndpoint(ctx, &kv.GetDataEndpointInput{StreamName: aws.String("y"), APIName: "NOPE"})
				return err
			}, "InvalidArgumentException"},
			{"name and ARN both", func() error {
				_, err := c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("y"), StreamARN: aws.String("arn:aws:kinesisvideo:us-east-1:1:stream/y/1")})
				return err
			}, "InvalidArgumentException"},
			{"ARN of a recreated stream", func() error {
				_, err := c.DescribeStream(ctx, &kv.DescribeStreamInput{StreamARN: aws.String("arn:aws:kinesisvideo:us-east-1:123456789012:stream/y/1")})
				return err
			}, "ResourceNotFoundException"},
			{"too many tags", func() error {
				tags := map[string]string{}
				for i := range 51 {
					tags[strings.Repeat("k", i+1)] = "v"
				}
				_, err := c.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("z"), Tags: tags})
				return err
			}, "TagsPerResourceExceededLimitException"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				require.Error(t, err)
				require.Equal(t, tc.want, apiCode(err), "%v", err)
			})
		}
	})
}

func TestJSONBodiesAreSizeLimited(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		body := strings.NewReader(`{"StreamName":"` + strings.Repeat("a", 200<<10) + `"}`)
		resp, err := st.AdminClient().Post(st.ControlPlaneURL+"/createStream", "application/json", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", msg)
		require.Equal(t, "InvalidArgumentException", resp.Header.Get("x-amzn-ErrorType"))
	})
}

func TestStreamsSurviveRestart(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		_, err := sdkClient(st).CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("keep"), DataRetentionInHours: aws.Int32(24)})
		require.NoError(t, err)
		ca, err := os.ReadFile(st.CACertFile)
		require.NoError(t, err)

		st2 := restarted(t, st)
		ca2, err := os.ReadFile(st2.CACertFile)
		require.NoError(t, err)
		require.Equal(t, ca, ca2, "the same CA after the restart")
		d, err := sdkClient(st2).DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("keep")})
		require.NoError(t, err)
		require.Equal(t, int32(24), aws.ToInt32(d.StreamInfo.DataRetentionInHours))
	})
}

// restarted stops every service of the stack and starts them again on
// their data: a new embedded stack on the same data directory, or the same
// containers started again on their volumes.
func restarted(t *testing.T, st *stack.Stack) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	if st.Container(stack.RoleIngest) != nil {
		require.NoError(t, st.RestartContainers(ctx))
		return st
	}
	require.NoError(t, st.Close(ctx))
	return startStack(t, st.DataDir)
}

func TestMetricsEndpoint(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		_, _ = sdkClient(st).DescribeStream(context.Background(), &kv.DescribeStreamInput{StreamName: aws.String("none")})
		junk, err := st.AdminClient().Post(st.ControlPlaneURL+"/no-such-operation-x1", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		junk.Body.Close()
		resp, err := http.Get(st.MetricsURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Contains(t, string(b), `camstorm_ingest_requests_total{code="404",path="/describeStream",plane="control"} 1`)
		require.Contains(t, string(b), `camstorm_ingest_requests_total{code="404",path="unknown",plane="control"} 1`, "junk paths share one label")
		require.NotContains(t, string(b), "no-such-operation")
	})
}

func TestPlainHTTPIsRefused(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		for _, u := range []string{st.ControlPlaneURL, st.DataPlaneURL} {
			plain := "http://" + strings.TrimPrefix(u, "https://") + "/describeStream"
			resp, err := http.Post(plain, "application/json", strings.NewReader(`{"StreamName":"x"}`))
			if err == nil {
				// Go's TLS server answers a plaintext request with 400 and closes.
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", b)
				require.Contains(t, string(b), "HTTPS")
			}
		}
	})
}

// TestKMSWithAWSSDK: the stack serves its reference KMS on its own TLS
// listener; the AWS SDK's KMS client reaches it with only the endpoint and
// the CA changed, is refused the managed key behind alias/aws/kinesisvideo
// (it serves KVS only), and keeps a key of its own, and what it
// encrypted, across a restart.
func TestKMSWithAWSSDK(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		require.True(t, strings.HasPrefix(st.KMSURL, "https://127.0.0.1:"), st.KMSURL)
		ctx := context.Background()
		// The managed alias/aws/kinesisvideo key serves only through KVS (its
		// policy says kms:ViaService), so an operator uses a key of its own.
		_, err := operatorKMS(st).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/aws/kinesisvideo"), KeySpec: kmstypes.DataKeySpecAes256})
		require.ErrorContains(t, err, "AccessDeniedException")
		key, err := operatorKMS(st).CreateKey(ctx, &kms.CreateKeyInput{})
		require.NoError(t, err)
		dk, err := operatorKMS(st).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyMetadata.Arn,
			KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: map[string]string{"aws:kinesisvideo:arn": "arn:test"}})
		require.NoError(t, err)
		require.Len(t, dk.Plaintext, 32)

		st2 := restarted(t, st)
		out, err := operatorKMS(st2).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob,
			EncryptionContext: map[string]string{"aws:kinesisvideo:arn": "arn:test"}})
		require.NoError(t, err, "a data key wrapped before the restart unwraps after it")
		require.Equal(t, dk.Plaintext, out.Plaintext)
		require.Equal(t, aws.ToString(dk.KeyId), aws.ToString(out.KeyId))
	})
}

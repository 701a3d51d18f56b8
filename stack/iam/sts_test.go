package iam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/camstorm/camstorm/stack/pki"
	"github.com/stretchr/testify/require"
)

// stsClient is the AWS SDK's STS client pointed at the env's endpoint.
func (e *env) stsClient(c Credential) *sts.Client {
	return sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(e.sts),
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		HTTPClient:       e.client(),
		RetryMaxAttempts: 1,
	})
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSTSThroughTheSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.svc.AdminCredential()
	require.True(t, strings.HasPrefix(admin.AccessKeyID, "AKIA"), admin.AccessKeyID)
	require.False(t, admin.Temporary())
	client := e.stsClient(admin)

	who, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:iam::123456789012:user/camstorm-admin", aws.ToString(who.Arn))
	require.Equal(t, "123456789012", aws.ToString(who.Account))
	require.True(t, strings.HasPrefix(aws.ToString(who.UserId), "AIDA"), aws.ToString(who.UserId))

	consumer := e.svc.RoleARN(ConsumerRoleName)
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("viewer-1"), DurationSeconds: aws.Int32(7200)})
	require.NoError(t, err)
	cr := out.Credentials
	require.True(t, strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA"))
	require.WithinDuration(t, e.clock.Now().Add(2*time.Hour), aws.ToTime(cr.Expiration), 2*time.Second)
	require.Equal(t, "arn:aws:sts::123456789012:assumed-role/camstorm-consumer/viewer-1", aws.ToString(out.AssumedRoleUser.Arn))
	role, _ := e.svc.Role(ConsumerRoleName)
	require.Equal(t, role.ID+":viewer-1", aws.ToString(out.AssumedRoleUser.AssumedRoleId))

	got, ok := e.svc.LookupCredential(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SessionToken))
	require.True(t, ok)
	require.Equal(t, aws.ToString(cr.SecretAccessKey), got.SecretAccessKey)
	require.Equal(t, Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::123456789012:assumed-role/camstorm-consumer/viewer-1",
		Account: "123456789012", RoleARN: consumer, SessionName: "viewer-1"}, got.Principal)
	require.Equal(t, []string{role.Policies["camstorm-consumer-read"]}, e.svc.IdentityPolicies(got.Principal))

	// The temporary credentials work in turn.
	assumed := e.stsClient(got)
	who, err = assumed.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, got.Principal.ARN, aws.ToString(who.Arn))
	require.Equal(t, role.ID+":viewer-1", aws.ToString(who.UserId))

	cases := []struct {
		name     string
		client   *sts.Client
		in       sts.AssumeRoleInput
		wantCode string
	}{
		{"role trusting only the credential provider", client, sts.AssumeRoleInput{RoleArn: aws.String(e.svc.RoleARN(CameraRoleName)), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"unknown role", client, sts.AssumeRoleInput{RoleArn: aws.String(e.svc.RoleARN("nope")), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"role of another account", client, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/camstorm-admin"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"duration over the role's max", client, sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(43201)}, "ValidationError"},
		{"duration under 900", client, sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(899)}, "ValidationError"},
		{"role chaining over an hour", assumed, sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)}, "ValidationError"},
		{"bad session name", client, sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("a b")}, "ValidationError"},
		{"unknown key", e.stsClient(Credential{AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", SecretAccessKey: "x"}), sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1")}, "InvalidClientTokenId"},
		{"forged token", e.stsClient(Credential{AccessKeyID: got.AccessKeyID, SecretAccessKey: "x", SessionToken: got.SessionToken[:len(got.SessionToken)-8] + "AAAAAAA="}), sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1")}, "InvalidClientTokenId"},
		{"chaining within an hour", assumed, sts.AssumeRoleInput{RoleArn: aws.String(consumer), RoleSessionName: aws.String("s1")}, ""},
	}
	for _, tc := range cases {
		_, err := tc.client.AssumeRole(ctx, &tc.in)
		if tc.wantCode == "" {
			require.NoError(t, err, tc.name)
			continue
		}
		require.Error(t, err, tc.name)
		require.Equal(t, tc.wantCode, apiErrorCode(err), "%s: %v", tc.name, err)
	}

	e.clock.Advance(2*time.Hour + time.Second)
	_, err = assumed.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	require.Equal(t, "ExpiredToken", apiErrorCode(err), "%v", err)
}

func TestSTSWireErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, body string
		wantStatus         int
		wantInBody         string
	}{
		{"GET", "GET", "", 405, "<Code>InvalidAction</Code>"},
		{"no version", "POST", "Action=GetCallerIdentity", 400, "<Code>InvalidAction</Code>"},
		{"unknown action", "POST", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15", 400, "<Code>InvalidAction</Code>"},
		{"unsigned", "POST", "Action=GetCallerIdentity&Version=2011-06-15", 403, "<Type>Sender</Type><Code>MissingAuthenticationToken</Code>"},
		{"bad form encoding", "POST", "Action=%zz&Version=2011-06-15", 400, "<Code>MalformedInput</Code>"},
		{"oversize", "POST", "Action=GetCallerIdentity&Version=2011-06-15&x=" + strings.Repeat("a", MaxSTSBody), 400, "<Code>MalformedInput</Code>"},
	}
	c := e.client()
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, e.sts+"/", strings.NewReader(tc.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		require.NoError(t, err, tc.name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.wantStatus, resp.StatusCode, "%s: %s", tc.name, body)
		require.Contains(t, string(body), "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>", tc.name)
		require.Contains(t, string(body), tc.wantInBody, tc.name)
		require.NotEmpty(t, resp.Header.Get("x-amzn-RequestId"), tc.name)
	}

	// AssumeRole without its parameters.
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}}
	req, _ := http.NewRequest("POST", e.sts+"/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	admin := e.svc.AdminCredential()
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+admin.AccessKeyID+"/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "<Code>MissingParameter</Code>")
}

type queryCodedError struct{}

func (queryCodedError) Error() string     { return "signature mismatch" }
func (queryCodedError) QueryCode() string { return "SignatureDoesNotMatch" }
func (queryCodedError) ErrorCode() string { return "InvalidSignatureException" }

func TestSTSAuthenticationErrorCodes(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		err  error
		want string
	}{
		{queryCodedError{}, "<Code>SignatureDoesNotMatch</Code>"},
		{fmt.Errorf("wrapped: %w", &codedError{"InvalidClientTokenId", "unknown"}), "<Code>InvalidClientTokenId</Code>"},
		{errors.New("anything else"), "<Code>AccessDenied</Code>"},
	}
	for _, tc := range cases {
		url := serveTLS(t, e.svc.STSHandler(func(*http.Request) (Principal, error) { return Principal{}, tc.err }, testAuthorize), pki.ServerTLS(e.server))
		resp, err := e.client().Post(url+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%v", tc.err)
		require.Contains(t, string(body), tc.want, "%v", tc.err)
	}
}

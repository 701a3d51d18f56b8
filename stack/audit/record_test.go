package audit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/stack/iam"
	"github.com/stretchr/testify/require"
)

func TestFromRequestBuildsACloudTrailRecord(t *testing.T) {
	src := Source{EventSource: SourceKMS, Region: "us-east-1", Account: "111122223333",
		Clock: func() time.Time { return time.Date(2026, 11, 27, 5, 6, 7, 890, time.FixedZone("CET", 3600)) },
		Rand:  bytes.NewReader(bytes.Repeat([]byte{0xab}, 64))}
	r := httptest.NewRequest(http.MethodPost, "https://kms.local/", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 os/linux")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE123/20261127/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef")
	p := &iam.Principal{Type: iam.PrincipalAssumedRole, ARN: "arn:aws:sts::111122223333:assumed-role/camera/cam-7",
		Account: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/camera", SessionName: "cam-7"}
	rec := src.FromRequest(r, Outcome{
		EventName: "GenerateDataKey", Principal: p, DataEvent: true, ReadOnly: true,
		SessionCreated:    time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
		RequestParameters: map[string]any{"KeyId": "alias/cam", "NumberOfBytes": 32},
		ResponseElements:  map[string]any{"Plaintext": []byte("k"), "CiphertextBlob": "AQID", "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k1"},
		ErrorCode:         "AccessDeniedException", ErrorMessage: "not allowed",
		Resources: []Resource{{ARN: "arn:aws:kms:us-east-1:111122223333:key/k1", AccountID: "111122223333", Type: ResourceKMSKey}},
	})
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	want := `{"eventVersion":"1.08",` +
		`"userIdentity":{"type":"AssumedRole","principalId":"camera:cam-7","arn":"arn:aws:sts::111122223333:assumed-role/camera/cam-7","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE123",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"camera","arn":"arn:aws:iam::111122223333:role/camera","accountId":"111122223333","userName":"camera"},"attributes":{"creationDate":"2026-11-27T05:00:00Z","mfaAuthenticated":"false"}}},` +
		`"eventTime":"2026-11-27T04:06:07Z","eventSource":"kms.amazonaws.com","eventName":"GenerateDataKey","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"192.0.2.7","userAgent":"aws-sdk-go-v2/1.48.0 os/linux","errorCode":"AccessDeniedException","errorMessage":"not allowed",` +
		`"requestParameters":{"KeyId":"alias/cam","NumberOfBytes":32},` +
		`"responseElements":{"CiphertextBlob":"HIDDEN_DUE_TO_SECURITY_REASONS","KeyId":"arn:aws:kms:us-east-1:111122223333:key/k1","Plaintext":"HIDDEN_DUE_TO_SECURITY_REASONS"},` +
		`"requestID":"abababab-abab-4bab-abab-abababababab","eventID":"abababab-abab-4bab-abab-abababababab","readOnly":true,` +
		`"resources":[{"ARN":"arn:aws:kms:us-east-1:111122223333:key/k1","accountId":"111122223333","type":"AWS::KMS::Key"}],` +
		`"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}`
	require.JSONEq(t, want, string(b))
	require.True(t, rec.Denied())
}

func TestFromRequestForAnUnauthenticatedCall(t *testing.T) {
	src := Source{EventSource: SourceKinesisVideo, Region: "eu-west-1", Account: "111122223333"}
	r := httptest.NewRequest(http.MethodGet, "https://kvs.local/getMedia?X-Amz-Credential=AKIDPRESIGNED%2F20261127%2Feu-west-1%2Fkinesisvideo%2Faws4_request", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	rec := src.FromRequest(r, Outcome{EventName: "GetMedia", ErrorCode: "InvalidSignatureException", DataEvent: true})
	require.Equal(t, UserIdentity{Type: IdentityUnknown, AccessKeyID: "AKIDPRESIGNED"}, rec.UserIdentity)
	require.Equal(t, "2001:db8::1", rec.SourceIPAddress)
	require.Len(t, rec.EventID, 36)
	require.NotEqual(t, rec.EventID, rec.RequestID)
	require.Equal(t, CategoryData, rec.EventCategory)
	require.False(t, rec.ManagementEvent)
	require.True(t, rec.Denied())
}

func TestIdentityOf(t *testing.T) {
	cases := []struct {
		p    iam.Principal
		want UserIdentity
	}{
		{iam.Principal{Type: iam.PrincipalRoot, ARN: "arn:aws:iam::111122223333:root", Account: "111122223333"},
			UserIdentity{Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root", AccountID: "111122223333", AccessKeyID: "AKID"}},
		{iam.Principal{Type: iam.PrincipalUser, ARN: "arn:aws:iam::111122223333:user/ops/alice", Account: "111122223333"},
			UserIdentity{Type: "IAMUser", PrincipalID: "alice", ARN: "arn:aws:iam::111122223333:user/ops/alice", AccountID: "111122223333", AccessKeyID: "AKID"}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, IdentityOf(&tc.p, "AKID"), "IdentityOf(%+v)", tc.p)
	}
}

func TestRedact(t *testing.T) {
	type kmsRequest struct {
		KeyID     string `json:"KeyId"`
		Plaintext []byte
	}
	cases := []struct {
		name string
		in   map[string]any
		want map[string]any
	}{
		{"nil stays nil", nil, nil},
		{"secrets by name, any case and separator",
			map[string]any{"SecretAccessKey": "s", "sessionToken": "t", "X-Amz-Security-Token": "t", "password": "p", "Authorization": "a", "private_key": "k", "accessKeyId": "AKID", "NextToken": "page2"},
			map[string]any{"SecretAccessKey": Hidden, "sessionToken": Hidden, "X-Amz-Security-Token": Hidden, "password": Hidden, "Authorization": Hidden, "private_key": Hidden, "accessKeyId": "AKID", "NextToken": "page2"}},
		{"KMS blobs and plaintext",
			map[string]any{"Plaintext": "aGk=", "CiphertextBlob": "AQ==", "SourceCiphertextBlob": "AQ==", "GrantTokens": []string{"g"}, "KeyId": "alias/x"},
			map[string]any{"Plaintext": Hidden, "CiphertextBlob": Hidden, "SourceCiphertextBlob": Hidden, "GrantTokens": Hidden, "KeyId": "alias/x"}},
		{"binary under any name", map[string]any{"Data": []byte{1}}, map[string]any{"Data": Hidden}},
		{"nested credentials of an AssumeRole response",
			map[string]any{"credentials": map[string]any{"accessKeyId": "ASIA", "secretAccessKey": "s", "sessionToken": "t", "expiration": "2026"}},
			map[string]any{"credentials": map[string]any{"accessKeyId": "ASIA", "secretAccessKey": Hidden, "sessionToken": Hidden, "expiration": "2026"}}},
		{"encryption context kept", map[string]any{"EncryptionContext": map[string]string{"stream": "cam-1"}},
			map[string]any{"EncryptionContext": map[string]any{"stream": "cam-1"}}},
		{"struct redacted by JSON name", map[string]any{"request": kmsRequest{KeyID: "k", Plaintext: []byte("x")}},
			map[string]any{"request": map[string]any{"KeyId": "k", "Plaintext": Hidden}}},
		{"list of maps", map[string]any{"items": []any{map[string]any{"token": "t", "n": 1}}},
			map[string]any{"items": []any{map[string]any{"token": Hidden, "n": 1}}}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, Redact(tc.in), "%s: Redact(%v)", tc.name, tc.in)
	}
}

func TestRedactBoundsSize(t *testing.T) {
	long := strings.Repeat("é", 1000)
	out := Redact(map[string]any{"s": long, "list": make([]any, 500)})
	s := out["s"].(string)
	require.Less(t, len(s), 1100)
	require.Contains(t, s, "bytes cut)")
	require.Len(t, out["list"], maxParamItems+1)
	deep := map[string]any{}
	cur := deep
	for range 20 {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	b, err := json.Marshal(Redact(deep))
	require.NoError(t, err)
	require.Contains(t, string(b), "TRUNCATED_NESTING")
}

func TestIsDenied(t *testing.T) {
	for code, want := range map[string]bool{
		"": false, "AccessDeniedException": true, "AccessDenied": true, "NotAuthorizedException": true,
		"InvalidSignatureException": true, "UnrecognizedClientException": true, "ExpiredTokenException": true,
		"KMSInvalidStateException": false, "ResourceNotFoundException": false, "ThrottlingException": false,
	} {
		require.Equal(t, want, IsDenied(code), "IsDenied(%q)", code)
	}
}

// TestServiceOnLoopbackAuditsEveryRequest is the wiring a service uses:
// build the record from the request and the outcome, append it, answer.
func TestServiceOnLoopbackAuditsEveryRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{})
	require.NoError(t, err)
	src := Source{EventSource: SourceKMS, Region: "us-east-1", Account: "111122223333"}
	alice := &iam.Principal{Type: iam.PrincipalUser, ARN: "arn:aws:iam::111122223333:user/alice", Account: "111122223333"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := Outcome{EventName: "DescribeKey", ReadOnly: true, RequestParameters: map[string]any{"KeyId": "alias/cam"}}
		if AccessKeyIDOf(r) == "AKIAALICE" {
			o.Principal = alice
		} else {
			o.ErrorCode, o.ErrorMessage = "UnrecognizedClientException", "The security token included in the request is invalid."
			w.WriteHeader(http.StatusBadRequest)
		}
		if err := l.Append(src.FromRequest(r, o)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	for _, key := range []string{"AKIAALICE", "AKIAMALLORY", "AKIAALICE"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20261127/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.NoError(t, l.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var denied []Record
	require.NoError(t, Query(f, Filter{Denied: true}, func(r Record) error { denied = append(denied, r); return nil }))
	require.Len(t, denied, 1)
	require.Equal(t, "AKIAMALLORY", denied[0].UserIdentity.AccessKeyID)
	require.Equal(t, IdentityUnknown, denied[0].UserIdentity.Type)
	require.Equal(t, "127.0.0.1", denied[0].SourceIPAddress)
	require.Equal(t, "Go-http-client/1.1", denied[0].UserAgent)
	require.Equal(t, uint64(2), denied[0].Chain.Seq)
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	rep, err := Verify(f)
	require.NoError(t, err)
	require.Equal(t, uint64(3), rep.Records)
}

package iam

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Authenticate identifies the signer of a request (the stack plugs in its
// SigV4 verifier). The STS handler has read the body (at most MaxSTSBody
// bytes) before calling it and hands the request over with r.Body reading
// those bytes again, so the verifier can hash the payload. An error with a
// QueryCode() string method (sigv4.Error) or else an ErrorCode() string
// method (smithy-go's APIError) is answered with that code, any other with
// AccessDenied; all with HTTP 403.
type Authenticate func(*http.Request) (Principal, error)

// Authorize decides whether caller may perform action on resource; for
// sts:AssumeRole, trustPolicy is the role's trust policy and both it and
// the caller's identity policies must allow. A non-nil error denies.
type Authorize func(caller Principal, action, resource, trustPolicy string) error

// MaxSTSBody bounds an STS query-protocol request body.
const MaxSTSBody = 64 << 10

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// STSHandler serves the STS query protocol (POST / with a form body,
// Version=2011-06-15): AssumeRole and GetCallerIdentity, so the AWS SDK's
// STS client works with only its endpoint changed. Mount it on a
// server-TLS listener; SigV4 signing name "sts".
func (s *Service) STSHandler(authenticate Authenticate, authorize Authorize) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveSTS(w, r, authenticate, authorize)
	})
}

type stsError struct {
	status  int
	code    string
	message string
}

func (e *stsError) Error() string { return e.code + ": " + e.message }

func (s *Service) serveSTS(w http.ResponseWriter, r *http.Request, authenticate Authenticate, authorize Authorize) {
	reqID, err := s.randomBytes(16)
	if err != nil {
		s.writeSTSError(w, "", &stsError{http.StatusInternalServerError, "InternalFailure", "the service could not make a request id"})
		return
	}
	requestID := formatRequestID(reqID)
	if r.Method != http.MethodPost {
		s.writeSTSError(w, requestID, &stsError{http.StatusMethodNotAllowed, "InvalidAction", "STS takes POST requests with a form body"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSTSBody))
	if err != nil {
		s.writeSTSError(w, requestID, &stsError{http.StatusBadRequest, "MalformedInput", "the form body could not be read: " + err.Error()})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.writeSTSError(w, requestID, &stsError{http.StatusBadRequest, "MalformedInput", "the body is not a URL-encoded form: " + err.Error()})
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if v := form.Get("Version"); v != "2011-06-15" {
		s.writeSTSError(w, requestID, &stsError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Version %q is not supported; use 2011-06-15", v)})
		return
	}
	action := form.Get("Action")
	if action != "AssumeRole" && action != "GetCallerIdentity" {
		s.writeSTSError(w, requestID, &stsError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("action %q is not supported by the reference stack (AssumeRole, GetCallerIdentity)", action)})
		return
	}
	caller, err := authenticate(r)
	if err != nil {
		code := "AccessDenied"
		var queryCoded interface{ QueryCode() string }
		var coded interface{ ErrorCode() string }
		switch {
		case errors.As(err, &queryCoded) && queryCoded.QueryCode() != "":
			code = queryCoded.QueryCode()
		case errors.As(err, &coded) && coded.ErrorCode() != "":
			code = coded.ErrorCode()
		}
		s.writeSTSError(w, requestID, &stsError{http.StatusForbidden, code, err.Error()})
		return
	}
	var resp any
	switch action {
	case "GetCallerIdentity":
		resp = getCallerIdentityResponse{Xmlns: stsNamespace, Result: callerIdentity{
			Arn: caller.ARN, UserID: s.principalID(caller), Account: caller.Account}, Metadata: responseMetadata{requestID}}
	case "AssumeRole":
		resp, err = s.stsAssumeRole(form, caller, authorize, requestID)
	}
	if err != nil {
		var se *stsError
		if !errors.As(err, &se) {
			s.cfg.Logf("iam: sts %s: %v", action, err)
			se = &stsError{http.StatusInternalServerError, "InternalFailure", "the identity service failed; see the stack log"}
		}
		s.writeSTSError(w, requestID, se)
		return
	}
	b, err := xml.Marshal(resp)
	if err != nil {
		s.writeSTSError(w, requestID, &stsError{http.StatusInternalServerError, "InternalFailure", "encoding the answer failed"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func (s *Service) stsAssumeRole(form url.Values, caller Principal, authorize Authorize, requestID string) (any, error) {
	roleARN, session := form.Get("RoleArn"), form.Get("RoleSessionName")
	if roleARN == "" || session == "" {
		return nil, &stsError{http.StatusBadRequest, "MissingParameter", "AssumeRole needs RoleArn and RoleSessionName"}
	}
	if !sessionNamePattern.MatchString(session) {
		return nil, &stsError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("RoleSessionName %q must be 2-64 characters of letters, digits and +=,.@_-", session)}
	}
	var duration time.Duration
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil || n < int64(MinSessionDuration/time.Second) {
			return nil, &stsError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("DurationSeconds %q must be a number of seconds, at least 900", d)}
		}
		duration = time.Duration(n) * time.Second
	}
	denied := &stsError{http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, roleARN)}
	trust, ok := s.RoleTrustPolicy(roleARN)
	if !ok {
		return nil, denied // as STS: an unknown role is indistinguishable from a forbidden one
	}
	if err := authorize(caller, "sts:AssumeRole", roleARN, trust); err != nil {
		s.cfg.Logf("iam: sts AssumeRole of %s by %s denied: %v", roleARN, caller.ARN, err)
		return nil, denied
	}
	cred, err := s.AssumeRole(caller, roleARN, session, duration)
	switch {
	case errors.Is(err, ErrInvalid):
		return nil, &stsError{http.StatusBadRequest, "ValidationError", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
	case errors.Is(err, ErrNotFound):
		return nil, denied
	case errors.Is(err, ErrLimitExceeded):
		return nil, &stsError{http.StatusBadRequest, "Throttling", strings.TrimPrefix(err.Error(), ErrLimitExceeded.Error()+": ")}
	case err != nil:
		return nil, err
	}
	return assumeRoleResponse{Xmlns: stsNamespace, Result: assumeRoleResult{
		Credentials: stsCredentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey,
			SessionToken: cred.SessionToken, Expiration: cred.Expiration.UTC().Format(time.RFC3339)},
		AssumedRoleUser: assumedRoleUser{Arn: cred.Principal.ARN, AssumedRoleID: s.principalID(cred.Principal)},
	}, Metadata: responseMetadata{requestID}}, nil
}

func (s *Service) writeSTSError(w http.ResponseWriter, requestID string, e *stsError) {
	errType := "Sender"
	if e.status >= 500 {
		errType = "Receiver"
	}
	b, _ := xml.Marshal(stsErrorResponse{Xmlns: stsNamespace, Error: stsErrorBody{Type: errType, Code: e.code, Message: e.message}, RequestID: requestID})
	w.Header().Set("Content-Type", "text/xml")
	if requestID != "" {
		w.Header().Set("x-amzn-RequestId", requestID)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func formatRequestID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type assumeRoleResponse struct {
	XMLName  xml.Name         `xml:"AssumeRoleResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   assumeRoleResult `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type assumeRoleResult struct {
	Credentials     stsCredentials  `xml:"Credentials"`
	AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name         `xml:"GetCallerIdentityResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   callerIdentity   `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type callerIdentity struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type stsErrorResponse struct {
	XMLName   xml.Name     `xml:"ErrorResponse"`
	Xmlns     string       `xml:"xmlns,attr"`
	Error     stsErrorBody `xml:"Error"`
	RequestID string       `xml:"RequestId"`
}

type stsErrorBody struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

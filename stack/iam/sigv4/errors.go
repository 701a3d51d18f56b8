package sigv4

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Error codes, as AWS JSON-protocol services (KMS, Kinesis Video Streams)
// name them. Query-protocol services (STS) use the names QueryCode returns.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeExpiredToken               = "ExpiredTokenException"
	// CodeContentSHA256Mismatch is S3's name for a body whose SHA-256 is not
	// the X-Amz-Content-Sha256 the client signed.
	CodeContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
	// CodeInvalidPayload refuses an X-Amz-Content-Sha256 value or a payload
	// form the route does not accept.
	CodeInvalidPayload = "InvalidArgumentException"
	// CodeIncompleteBody is S3's name for an aws-chunked body whose framing is
	// broken or ends early.
	CodeIncompleteBody = "IncompleteBody"
)

// The messages AWS sends with the common authentication errors.
const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnrecognized     = "The security token included in the request is invalid."
	msgExpiredToken     = "The security token included in the request is expired"
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// Error is an authentication failure as an AWS service reports it: the error
// code, the HTTP status and the message. Messages never contain the secret
// key or the signature the verifier computed.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// QueryCode is the code a query-protocol service (STS) uses for e.Code.
func (e *Error) QueryCode() string {
	switch e.Code {
	case CodeMissingAuthenticationToken:
		return "MissingAuthenticationToken"
	case CodeIncompleteSignature:
		return "IncompleteSignature"
	case CodeUnrecognizedClient:
		return "InvalidClientTokenId"
	case CodeInvalidSignature:
		return "SignatureDoesNotMatch"
	case CodeExpiredToken:
		return "ExpiredToken"
	case CodeInvalidPayload:
		return "InvalidParameterValue"
	}
	return e.Code
}

func newError(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

func incomplete(msg string) *Error {
	return newError(CodeIncompleteSignature, http.StatusBadRequest, msg)
}

func invalidSignature(msg string) *Error {
	return newError(CodeInvalidSignature, http.StatusForbidden, msg)
}

var (
	errMissingToken     = newError(CodeMissingAuthenticationToken, http.StatusForbidden, msgMissingToken)
	errUnrecognized     = newError(CodeUnrecognizedClient, http.StatusForbidden, msgUnrecognized)
	errExpiredToken     = newError(CodeExpiredToken, http.StatusForbidden, msgExpiredToken)
	errSignatureInvalid = invalidSignature(msgSignatureInvalid)
)

// Protocol is the wire protocol whose error shape WriteError uses.
type Protocol int

const (
	// AWSJSON is awsJson1_1 (KMS): body {"__type": code, "message": text}.
	AWSJSON Protocol = iota
	// RESTJSON is restJson1 (Kinesis Video Streams control and data planes):
	// header x-amzn-ErrorType: code, body {"Message": text}.
	RESTJSON
	// AWSQuery is the query protocol (STS): an XML ErrorResponse with the
	// query-protocol code.
	AWSQuery
)

// WriteError writes e as the response in the given protocol's error shape.
// The caller sets x-amzn-RequestId on w beforehand if it wants one; AWSQuery
// repeats it as the body's RequestId.
func (e *Error) WriteError(w http.ResponseWriter, p Protocol) {
	h := w.Header()
	var body []byte
	switch p {
	case RESTJSON:
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-ErrorType", e.Code)
		body, _ = json.Marshal(struct {
			Message string `json:"Message"`
		}{e.Message})
	case AWSQuery:
		h.Set("Content-Type", "text/xml")
		type queryError struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		kind := "Sender"
		if e.Status >= 500 {
			kind = "Receiver"
		}
		body, _ = xml.Marshal(struct {
			XMLName   xml.Name   `xml:"ErrorResponse"`
			Error     queryError `xml:"Error"`
			RequestID string     `xml:"RequestId"`
		}{Error: queryError{kind, e.QueryCode(), e.Message}, RequestID: h.Get("X-Amzn-Requestid")})
	default:
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-ErrorType", e.Code)
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.Code, e.Message})
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

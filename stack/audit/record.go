package audit

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/camstorm/camstorm/stack/iam"
)

// Constant field values, as CloudTrail writes them.
const (
	EventVersion = "1.08"
	EventTypeAPI = "AwsApiCall"

	CategoryManagement = "Management"
	CategoryData       = "Data"
)

// Event sources of the reference stack's services.
const (
	SourceKinesisVideo   = "kinesisvideo.amazonaws.com"
	SourceKMS            = "kms.amazonaws.com"
	SourceSTS            = "sts.amazonaws.com"
	SourceIoTCredentials = "credentials.iot.amazonaws.com"
)

// Resource types for Record.Resources, as CloudTrail names them.
const (
	ResourceKMSKey       = "AWS::KMS::Key"
	ResourceStream       = "AWS::KinesisVideo::Stream"
	ResourceIAMRole      = "AWS::IAM::Role"
	ResourceIoTThing     = "AWS::IoT::Thing"
	ResourceIoTRoleAlias = "AWS::IoT::RoleAlias"
)

// IdentityUnknown is userIdentity.type for a request whose signature could
// not be tied to a principal (unsigned, unknown key, bad signature).
const IdentityUnknown = "Unknown"

// Record is one audit event in CloudTrail's record shape. Field names and
// JSON tags follow the CloudTrail record contents reference, so tools that
// read CloudTrail JSON read these lines too.
type Record struct {
	EventVersion       string         `json:"eventVersion"`
	UserIdentity       UserIdentity   `json:"userIdentity"`
	EventTime          time.Time      `json:"eventTime"` // UTC, whole seconds, as CloudTrail
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	AWSRegion          string         `json:"awsRegion"`
	SourceIPAddress    string         `json:"sourceIPAddress"`
	UserAgent          string         `json:"userAgent"`
	ErrorCode          string         `json:"errorCode,omitempty"`
	ErrorMessage       string         `json:"errorMessage,omitempty"`
	RequestParameters  map[string]any `json:"requestParameters"` // always passed through Redact
	ResponseElements   map[string]any `json:"responseElements"`  // always passed through Redact
	RequestID          string         `json:"requestID"`
	EventID            string         `json:"eventID"`
	ReadOnly           bool           `json:"readOnly"`
	Resources          []Resource     `json:"resources,omitempty"`
	EventType          string         `json:"eventType"`
	ManagementEvent    bool           `json:"managementEvent"`
	RecipientAccountID string         `json:"recipientAccountId"`
	EventCategory      string         `json:"eventCategory"`

	// Chain is the record's place in the hash chain. Log.Append ignores
	// it and writes its own; Query fills it from the line.
	Chain *Link `json:"auditChain,omitempty"`
}

// UserIdentity is who made the request.
type UserIdentity struct {
	// Type is Root, IAMUser, AssumedRole or Unknown.
	Type string `json:"type"`
	// PrincipalID is the user name for IAM users, ROLE:SESSION for assumed
	// roles and the account for root (the stack has no unique AIDA/AROA ids).
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the role session behind temporary credentials.
type SessionContext struct {
	SessionIssuer SessionIssuer     `json:"sessionIssuer"`
	Attributes    SessionAttributes `json:"attributes"`
}

// SessionIssuer is the role a session was issued for.
type SessionIssuer struct {
	Type        string `json:"type"` // "Role"
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes are CloudTrail's session attributes.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Resource is a resource the request touched.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
}

// Denied reports whether the request was refused for lack of
// authentication or authorisation (as opposed to failing for another
// reason or succeeding).
func (r Record) Denied() bool { return IsDenied(r.ErrorCode) }

// IsDenied reports whether an error code means the caller was not
// authenticated or not authorised: AccessDenied*, and the signature and
// token failures of AWS services.
func IsDenied(code string) bool {
	if code == "" {
		return false
	}
	if strings.Contains(code, "AccessDenied") || strings.Contains(code, "NotAuthorized") {
		return true
	}
	switch code {
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
		"IncompleteSignatureException", "SignatureDoesNotMatch", "MissingAuthenticationToken",
		"MissingAuthenticationTokenException", "InvalidClientTokenId", "ExpiredToken",
		"ExpiredTokenException", "InvalidAccessKeyId", "UnauthorizedOperation",
		"ClientCertificateRequired", "ForbiddenException", "Unauthorized":
		return true
	}
	return false
}

// IdentityOf builds userIdentity for a principal and the access key it
// signed with. A nil principal (the request was not authenticated) gives
// type Unknown with only the access key id the request claimed.
func IdentityOf(p *iam.Principal, accessKeyID string) UserIdentity {
	if p == nil {
		return UserIdentity{Type: IdentityUnknown, AccessKeyID: accessKeyID}
	}
	id := UserIdentity{Type: string(p.Type), ARN: p.ARN, AccountID: p.Account, AccessKeyID: accessKeyID}
	switch p.Type {
	case iam.PrincipalRoot:
		id.PrincipalID = p.Account
	case iam.PrincipalUser:
		id.PrincipalID = lastSegment(p.ARN)
	case iam.PrincipalAssumedRole:
		role := lastSegment(p.RoleARN)
		id.PrincipalID = role + ":" + p.SessionName
		id.SessionContext = &SessionContext{
			SessionIssuer: SessionIssuer{Type: "Role", PrincipalID: role, ARN: p.RoleARN, AccountID: p.Account, UserName: role},
			Attributes:    SessionAttributes{MFAAuthenticated: "false"},
		}
	}
	if id.Type == "" {
		id.Type = IdentityUnknown
	}
	return id
}

func lastSegment(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Source stamps records for one service of the stack.
type Source struct {
	// EventSource is the service's DNS name, e.g. SourceKMS.
	EventSource string
	Region      string
	// Account is recipientAccountId: the account that owns the service.
	Account string
	// Clock gives eventTime; nil means time.Now.
	Clock func() time.Time
	// Rand gives eventID (and requestID when the outcome has none); nil
	// means crypto/rand. It must be safe for concurrent use.
	Rand io.Reader
}

// Outcome is what a service knows about a request once it has answered.
type Outcome struct {
	EventName string
	// Principal is the authenticated caller; nil when authentication
	// failed or was not attempted. Calls authenticated by a client
	// certificate alone (the credential provider) have no IAM principal:
	// pass nil and put thingName and certificateId in RequestParameters.
	Principal *iam.Principal
	// AccessKeyID is the key the request was signed with; empty means
	// "take it from the request's SigV4 Authorization header or
	// X-Amz-Credential query parameter".
	AccessKeyID string
	// SessionCreated is when the caller's session credential was issued
	// (sessionContext.attributes.creationDate); zero omits it.
	SessionCreated time.Time
	// RequestParameters and ResponseElements are redacted by Redact.
	RequestParameters map[string]any
	ResponseElements  map[string]any
	// ErrorCode is the AWS error type (AccessDeniedException, ...);
	// empty for success.
	ErrorCode    string
	ErrorMessage string
	Resources    []Resource
	ReadOnly     bool
	// DataEvent marks data-plane calls (PutMedia, GetMedia, Encrypt,
	// Decrypt ...); they get eventCategory Data and managementEvent false.
	DataEvent bool
	// RequestID is the id the service answered with; empty generates one.
	RequestID string
}

// maxUserAgent bounds the user agent copied from a request.
const maxUserAgent = 1024

// FromRequest builds the record for a request r that ended with outcome o:
// source IP from r.RemoteAddr (X-Forwarded-For is not trusted), user agent
// from the header, parameters redacted, a fresh eventID.
func (s Source) FromRequest(r *http.Request, o Outcome) Record {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	key := o.AccessKeyID
	if key == "" {
		key = AccessKeyIDOf(r)
	}
	id := IdentityOf(o.Principal, key)
	if id.SessionContext != nil && !o.SessionCreated.IsZero() {
		id.SessionContext.Attributes.CreationDate = o.SessionCreated.UTC().Format(time.RFC3339)
	}
	rec := Record{
		EventVersion:       EventVersion,
		UserIdentity:       id,
		EventTime:          now().UTC().Truncate(time.Second),
		EventSource:        s.EventSource,
		EventName:          o.EventName,
		AWSRegion:          s.Region,
		SourceIPAddress:    sourceIP(r),
		UserAgent:          truncate(r.UserAgent(), maxUserAgent),
		ErrorCode:          o.ErrorCode,
		ErrorMessage:       truncate(o.ErrorMessage, maxParamString),
		RequestParameters:  Redact(o.RequestParameters),
		ResponseElements:   Redact(o.ResponseElements),
		RequestID:          o.RequestID,
		EventID:            newUUID(rnd),
		ReadOnly:           o.ReadOnly,
		Resources:          o.Resources,
		EventType:          EventTypeAPI,
		ManagementEvent:    !o.DataEvent,
		RecipientAccountID: s.Account,
		EventCategory:      CategoryManagement,
	}
	if o.DataEvent {
		rec.EventCategory = CategoryData
	}
	if rec.RequestID == "" {
		rec.RequestID = newUUID(rnd)
	}
	return rec
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// AccessKeyIDOf returns the access key id a SigV4 request claims, from the
// Authorization header ("Credential=AKID/date/region/service/aws4_request")
// or the X-Amz-Credential query parameter of a presigned URL; "" if none.
// The id is not a secret and is logged even when the signature is bad.
func AccessKeyIDOf(r *http.Request) string {
	cred := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if i := strings.Index(h, "Credential="); i >= 0 {
			cred = h[i+len("Credential="):]
		}
	} else if r.URL != nil {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	if i := strings.IndexAny(cred, "/, "); i >= 0 {
		cred = cred[:i]
	}
	return truncate(cred, 128)
}

// newUUID returns a random (version 4) UUID; if the random source fails
// the id is all zeros rather than the request going unaudited.
func newUUID(r io.Reader) string {
	var b [16]byte
	_, _ = io.ReadFull(r, b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Access is one authorisation question: may the caller of a request
// perform Action (an IAM action, "kinesisvideo:PutMedia") on Resource (a
// stream ARN, or "*")?
type Access struct {
	Action   string
	Resource string
}

// Authorizer decides who may do what. The ingest knows nothing of
// identities: the request's context carries whatever the authorizer's
// authentication step put there.
type Authorizer interface {
	// Authorize answers a before the call runs; a denial is the exception
	// the caller gets (403 AccessDeniedException, as KVS answers).
	Authorize(ctx context.Context, a Access) *kvsapi.Exception
	// AuthorizeKeyUse answers whether the stream's KMS key may be used on
	// the caller's behalf: KVS asks KMS with the caller's credentials, so
	// writers need kms:GenerateDataKey and readers kms:Decrypt on it. A
	// denial (an error wrapping ErrKeyUseDenied) fails the fragments with
	// KMS error 4500, as KMS's own would; any other error (KMS
	// unreachable) with 4503, KMS_KEY_UNAVAILABLE.
	AuthorizeKeyUse(ctx context.Context, action, kmsKeyID string) error
}

// ErrKeyUseDenied marks an Authorizer's refusal of a KMS key use.
var ErrKeyUseDenied = errors.New("the key policy does not allow this use of the key")

// IAM actions of the KVS APIs the ingest serves.
const (
	ActionCreateStream            = "kinesisvideo:CreateStream"
	ActionDescribeStream          = "kinesisvideo:DescribeStream"
	ActionListStreams             = "kinesisvideo:ListStreams"
	ActionDeleteStream            = "kinesisvideo:DeleteStream"
	ActionGetDataEndpoint         = "kinesisvideo:GetDataEndpoint"
	ActionTagStream               = "kinesisvideo:TagStream"
	ActionListTagsForStream       = "kinesisvideo:ListTagsForStream"
	ActionUpdateDataRetention     = "kinesisvideo:UpdateDataRetention"
	ActionPutMedia                = "kinesisvideo:PutMedia"
	ActionGetMedia                = "kinesisvideo:GetMedia"
	ActionListFragments           = "kinesisvideo:ListFragments"
	ActionGetMediaForFragmentList = "kinesisvideo:GetMediaForFragmentList"
)

// KMS actions the ingest performs on a caller's behalf.
const (
	KeyActionWrite = "kms:GenerateDataKey"
	KeyActionRead  = "kms:Decrypt"
)

// authorize asks the authorizer, if any, and answers a denial itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, a Access) bool {
	if s.cfg.Authorizer == nil {
		return true
	}
	if e := s.cfg.Authorizer.Authorize(r.Context(), a); e != nil {
		writeError(w, e)
		return false
	}
	return true
}

// streamResource is the ARN a request on ref is authorised against: the
// stream's own when it exists, otherwise the one it would have, so a caller
// learns whether a stream exists only if it may act on it.
func (s *Server) streamResource(ref kvsapi.StreamRef) string {
	if st, e := s.streams.resolve(ref); e == nil {
		return st.record().ARN
	}
	if ref.StreamARN != "" {
		return ref.StreamARN
	}
	return fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/*", s.cfg.Region, s.cfg.Account, ref.StreamName)
}

// keyUse asks whether the caller may have kmsKeyID used for action; the
// answer fails fragments with a KMS error id when it is a denial.
func (s *Server) keyUse(ctx context.Context, action, kmsKeyID string) error {
	if s.cfg.Authorizer == nil || s.keys == nil {
		return nil
	}
	err := s.cfg.Authorizer.AuthorizeKeyUse(ctx, action, kmsKeyID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrKeyUseDenied):
		return fmt.Errorf("%w: %w", errKMS, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: err.Error()})
	}
	return fmt.Errorf("%w: checking the caller's use of %s: %w", errKMS, kmsKeyID, err) // unavailable

}

// Package sigv4 verifies AWS Signature Version 4 on incoming requests, for
// every service of the reference stack (KVS control and data planes, KMS, STS).
//
// The verifier rebuilds the canonical request from the header list the
// client signed instead of re-signing with an SDK, because real KVS producers
// sign header sets the SDK would never produce (producer-c signs
// host;user-agent;x-amz-date, embedded-c signs connection and
// transfer-encoding). Both the Authorization header and presigned query
// forms are accepted; see Payload for how request bodies are covered.
//
// Canonicalisation follows the AWS SDK for Go v2 signer, which the tests use
// as the oracle: the path as sent is escaped once more (every service but
// S3 does this; S3's single encoding is not offered) without removing dot
// segments; query pairs are decoded as net/url does and re-encoded;
// header values are trimmed with runs of spaces collapsed. X-Amz-Date is
// required (the Date header is not accepted in its place).
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxSkew is the clock skew AWS tolerates on X-Amz-Date.
const DefaultMaxSkew = 15 * time.Minute

// DefaultKeyCacheSize is how many derived signing keys a Verifier keeps.
const DefaultKeyCacheSize = 1024

// ErrInvalidConfig is returned by New when the Config has problems.
var ErrInvalidConfig = errors.New("sigv4: invalid config")

// Key is the secret side of an access key, as the identity service knows it.
type Key struct {
	SecretAccessKey string
	// SessionToken is set for temporary credentials; the request must then
	// carry exactly this X-Amz-Security-Token, and must carry none otherwise.
	SessionToken string
	// Expiration is when a temporary credential stops working; zero means never.
	Expiration time.Time
	// Identity is returned untouched in Result.Identity, e.g. the principal
	// the key belongs to, so callers need not look the key up twice.
	Identity any
}

// Config configures a Verifier.
type Config struct {
	// Lookup finds the key for an access key id and the session token the
	// request carries (empty if none), so a service whose session tokens
	// are sealed blobs can open them; false means unknown. Required. It
	// runs on every request, so it should be cheap.
	Lookup func(accessKeyID, sessionToken string) (Key, bool)
	// Region is the region requests must be scoped to, e.g. "us-east-1". Required.
	Region string
	// Services are the signing names accepted, e.g. "kinesisvideo". Required.
	Services []string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Clock; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// KeyCacheSize bounds the derived signing key cache; 0 means
	// DefaultKeyCacheSize, negative disables the cache.
	KeyCacheSize int

	// Deliberate defects, only for proving that conformance suites catch
	// them (stack.Defect); never for production. SkipSignatureCheck accepts
	// a request whose signature does not match (the access key still names
	// the caller); SkipTimeChecks ignores the X-Amz-Date window, presigned
	// expiry and the expiry of temporary credentials.
	SkipSignatureCheck, SkipTimeChecks bool
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	cache *keyCache
}

// New validates cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	var problems []string
	if cfg.Lookup == nil {
		problems = append(problems, "Lookup is required")
	}
	if cfg.Region == "" {
		problems = append(problems, "Region is required")
	}
	if len(cfg.Services) == 0 {
		problems = append(problems, "Services needs at least one signing name (e.g. kinesisvideo, kms, sts)")
	}
	for _, s := range cfg.Services {
		if s == "" || strings.ContainsAny(s, "/ ") {
			problems = append(problems, fmt.Sprintf("service %q is not a signing name", s))
		}
	}
	if strings.ContainsAny(cfg.Region, "/ ") {
		problems = append(problems, fmt.Sprintf("region %q is not a region name", cfg.Region))
	}
	if cfg.MaxSkew < 0 {
		problems = append(problems, "MaxSkew must not be negative")
	}
	if problems != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.KeyCacheSize == 0 {
		cfg.KeyCacheSize = DefaultKeyCacheSize
	}
	cfg.Services = append([]string(nil), cfg.Services...)
	return &Verifier{cfg: cfg, cache: newKeyCache(cfg.KeyCacheSize)}, nil
}

// Payload says how a route's request body is covered by the signature. The
// zero value is an empty body (Body(nil)).
type Payload struct {
	body      []byte
	streaming bool
}

// Body is for routes whose handler reads the whole (size-limited) body
// first. Without X-Amz-Content-Sha256 the client signed the body's SHA-256;
// a hex X-Amz-Content-Sha256 must equal it; UNSIGNED-PAYLOAD is accepted
// (Result.Payload says so). aws-chunked bodies are refused.
func Body(b []byte) Payload { return Payload{body: b} }

// Stream is for routes that must not buffer the body (PutMedia). KVS
// producers sign the SHA-256 of the empty string and send no
// X-Amz-Content-Sha256, so that is accepted and the body is not covered.
// UNSIGNED-PAYLOAD is accepted likewise. A hex X-Amz-Content-Sha256 and
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD (aws-chunked, signed chunks) are
// checked while the handler reads Result.Body, which returns an *Error
// instead of a chunk that fails its signature (no byte of it is released) or,
// for a hex hash, instead of io.EOF when the body's hash differs; a handler
// must read to io.EOF before acting on a hex-hashed body.
func Stream() Payload { return Payload{streaming: true} }

// Coverage says how much of the body the signature covers.
type Coverage int

const (
	// BodySigned: the body's SHA-256 was signed and matched (for Stream,
	// it is checked as Result.Body is read).
	BodySigned Coverage = iota
	// BodyChunkSigned: aws-chunked body, every chunk signature checked as
	// Result.Body is read.
	BodyChunkSigned
	// BodyUnsigned: the client signed UNSIGNED-PAYLOAD.
	BodyUnsigned
	// BodyUncovered: a Stream route whose client signed the empty-string
	// hash (KVS PutMedia); the body is not authenticated.
	BodyUncovered
)

func (c Coverage) String() string {
	switch c {
	case BodySigned:
		return "signed"
	case BodyChunkSigned:
		return "chunk-signed"
	case BodyUnsigned:
		return "unsigned"
	case BodyUncovered:
		return "uncovered"
	}
	return fmt.Sprintf("Coverage(%d)", int(c))
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID string
	// Identity is Key.Identity of the signing key.
	Identity any
	Service  string
	Region   string
	// SigningTime is X-Amz-Date.
	SigningTime time.Time
	// Presigned is true for the query-string form; Expires is then
	// SigningTime + X-Amz-Expires.
	Presigned bool
	Expires   time.Time
	// SignedHeaders is the client's list, lower-case names joined by ';'.
	SignedHeaders string
	// Temporary is true when the key is a session credential (token checked).
	Temporary bool
	Payload   Coverage
	// Body is what a Stream route reads instead of r.Body: r.Body itself, or
	// a reader that checks the payload hash or the chunk signatures and
	// strips aws-chunked framing. Nil for Body routes.
	Body io.Reader
}

// Signed reports whether the client signed the header (any case).
func (r *Result) Signed(header string) bool {
	for rest := r.SignedHeaders; ; {
		name, more, found := strings.Cut(rest, ";")
		if strings.EqualFold(name, header) {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// Verify checks the request's SigV4 signature (Authorization header or
// presigned query) and returns who signed it. Every failure is an *Error
// carrying the code, status and message AWS would send; write it with
// (*Error).WriteError.
func (v *Verifier) Verify(r *http.Request, p Payload) (Result, error) {
	res, err := v.verify(r, p)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func (v *Verifier) verify(r *http.Request, p Payload) (Result, *Error) {
	s := getScratch()
	defer putScratch(s)
	var res Result

	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	params, err := parseQuery(s.params[:0], rawQuery)
	s.params = params
	if err != nil {
		return res, err
	}
	auth := r.Header["Authorization"]
	presigned := isPresigned(params)
	var c credential
	var amzDate string
	switch {
	case len(auth) > 1:
		return res, incomplete("The request has more than one Authorization header.")
	case len(auth) == 1 && presigned:
		return res, incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case len(auth) == 1:
		if c, err = parseAuthorization(auth[0]); err != nil {
			return res, err
		}
		d := r.Header["X-Amz-Date"]
		if len(d) == 0 {
			return res, incomplete("Authorization header requires existence of an 'X-Amz-Date' header.")
		}
		if len(d) > 1 {
			return res, incomplete("The request has more than one X-Amz-Date header.")
		}
		amzDate = d[0]
		if tok := r.Header["X-Amz-Security-Token"]; len(tok) > 1 {
			return res, incomplete("The request has more than one X-Amz-Security-Token header.")
		} else if len(tok) == 1 {
			c.token, c.hasTok = tok[0], true
		}
	case presigned:
		if c, err = parsePresigned(params); err != nil {
			return res, err
		}
		amzDate = c.amzDate
		if tok := r.Header["X-Amz-Security-Token"]; len(tok) > 0 {
			if c.hasTok || len(tok) > 1 {
				return res, incomplete("The request carries more than one X-Amz-Security-Token.")
			}
			c.token, c.hasTok = tok[0], true // signed without header hoisting
		}
	default:
		return res, errMissingToken
	}

	signedAt, perr := parseAmzDate(amzDate)
	if perr != nil {
		return res, incomplete("X-Amz-Date must be in the ISO 8601 basic format yyyymmddThhmmssZ.")
	}
	key, ok := v.cfg.Lookup(c.accessKeyID, c.token)
	if !ok {
		return res, errUnrecognized
	}
	service := v.service(c.service)
	if service == "" {
		return res, invalidSignature("Credential should be scoped to correct service: '" + strings.Join(v.cfg.Services, "' or '") + "'.")
	}
	if c.region != v.cfg.Region {
		return res, invalidSignature("Credential should be scoped to a valid region: '" + v.cfg.Region + "'.")
	}
	if c.date != amzDate[:8] {
		return res, invalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" +
			c.date + "' != '" + amzDate[:8] + "', from '" + amzDate + "'.")
	}
	now := v.cfg.Clock().UTC()
	if e := v.checkTime(signedAt, now, presigned, c.expires); e != nil && !v.cfg.SkipTimeChecks {
		return res, e
	}
	if key.SessionToken != "" || c.hasTok {
		if !constantTimeEqual(c.token, key.SessionToken) || key.SessionToken == "" {
			return res, errUnrecognized
		}
	}
	if !key.Expiration.IsZero() && !now.Before(key.Expiration) && !v.cfg.SkipTimeChecks {
		return res, errExpiredToken
	}

	payloadHash, coverage, check, e := v.payload(r, p, s)
	if e != nil {
		return res, e
	}
	writeCanonicalRequest(s, r, &c, params, presigned, payloadHash)
	var signingKey [sha256.Size]byte
	v.cache.signingKey(s, key.SecretAccessKey, c.date, v.cfg.Region, service, &signingKey)
	s.buf = appendStringToSign(s.buf[:0], amzDate, &c, &s.sum)
	s.hm.mac(signingKey[:], s.buf, &s.mac)
	s.buf = s.buf[:0]
	if !hmac.Equal(s.mac[:], c.signature[:]) && !v.cfg.SkipSignatureCheck {
		return res, errSignatureInvalid
	}

	res = Result{
		AccessKeyID:   c.accessKeyID,
		Identity:      key.Identity,
		Service:       service,
		Region:        v.cfg.Region,
		SigningTime:   signedAt,
		Presigned:     presigned,
		SignedHeaders: c.signedHeaders,
		Temporary:     key.SessionToken != "",
		Payload:       coverage,
	}
	if presigned {
		res.Expires = signedAt.Add(time.Duration(c.expires) * time.Second)
	}
	switch check {
	case checkBodyNow:
		sum := sha256.Sum256(p.body)
		var want [sha256.Size]byte
		if _, err := hex.Decode(want[:], []byte(payloadHash)); err != nil || want != sum {
			return Result{}, errContentMismatch
		}
	case checkBodyOnRead:
		res.Body = newHashCheckingReader(r.Body, payloadHash)
	case checkChunks:
		cr := newChunkReader(r, signingKey, amzDate, &c, s.mac)
		cr.skipSignatures = v.cfg.SkipSignatureCheck
		res.Body = cr
	case checkNothing:
		if p.streaming {
			res.Body = r.Body
			if res.Body == nil {
				res.Body = http.NoBody
			}
		}
	}
	return res, nil
}

// service returns the configured signing name equal to name, or "".
func (v *Verifier) service(name string) string {
	for _, s := range v.cfg.Services {
		if s == name {
			return s
		}
	}
	return ""
}

// checkTime applies the clock-skew window to X-Amz-Date and, for presigned
// requests, the expiry; a presigned request may be older than the skew
// window while it has not expired.
func (v *Verifier) checkTime(signedAt, now time.Time, presigned bool, expires int64) *Error {
	skew := v.cfg.MaxSkew
	if signedAt.After(now.Add(skew)) {
		return invalidSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s)",
			signedAt.Format(amzDateLayout), now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), skewText(skew)))
	}
	if presigned {
		end := signedAt.Add(time.Duration(expires) * time.Second)
		if !now.Before(end) {
			return invalidSignature(fmt.Sprintf("Signature expired: the presigned request was valid until %s (X-Amz-Date %s + X-Amz-Expires %d s); it is now %s.",
				end.Format(amzDateLayout), signedAt.Format(amzDateLayout), expires, now.Format(amzDateLayout)))
		}
		return nil
	}
	if signedAt.Before(now.Add(-skew)) {
		return invalidSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s)",
			signedAt.Format(amzDateLayout), now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), skewText(skew)))
	}
	return nil
}

// skewText writes the skew the way AWS does ("15 min.").
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", int64(d/time.Minute))
	}
	return d.String() + "."
}

// bodyCheck is what remains to be checked of the body once the signature
// over the headers is good.
type bodyCheck int

const (
	checkNothing    bodyCheck = iota
	checkBodyNow              // Body route with a hex X-Amz-Content-Sha256
	checkBodyOnRead           // Stream route with a hex X-Amz-Content-Sha256
	checkChunks               // aws-chunked
)

var (
	errContentMismatch = newError(CodeContentSHA256Mismatch, http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
	errBadContentHash = newError(CodeInvalidPayload, http.StatusBadRequest,
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or the hex-encoded SHA-256 of the body.")
	errTrailerUnsupported = newError(CodeInvalidPayload, http.StatusBadRequest,
		"Only STREAMING-AWS4-HMAC-SHA256-PAYLOAD is supported for aws-chunked bodies; the trailer variants are not.")
	errChunkedNotStreaming = newError(CodeInvalidPayload, http.StatusBadRequest,
		"This operation does not accept aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) bodies; sign the SHA-256 of the body.")
)

// payload returns the payload hash to put in the canonical request; ""
// means the hex digest of the body in s.bodyHash.
func (v *Verifier) payload(r *http.Request, p Payload, s *scratch) (string, Coverage, bodyCheck, *Error) {
	h := r.Header["X-Amz-Content-Sha256"]
	if len(h) > 1 {
		return "", 0, 0, incomplete("The request has more than one X-Amz-Content-Sha256 header.")
	}
	if len(h) == 0 {
		if p.streaming {
			return emptyStringSHA, BodyUncovered, checkNothing, nil
		}
		sum := sha256.Sum256(p.body)
		hex.Encode(s.bodyHash[:], sum[:])
		return "", BodySigned, checkNothing, nil
	}
	switch v := h[0]; {
	case v == unsignedHash:
		return v, BodyUnsigned, checkNothing, nil
	case v == streamingHash:
		if !p.streaming {
			return "", 0, 0, errChunkedNotStreaming
		}
		return v, BodyChunkSigned, checkChunks, nil
	case strings.HasPrefix(v, "STREAMING-"):
		return "", 0, 0, errTrailerUnsupported
	case !isHexSHA256(v):
		return "", 0, 0, errBadContentHash
	case !p.streaming:
		return v, BodySigned, checkBodyNow, nil
	case strings.EqualFold(v, emptyStringSHA):
		return v, BodyUncovered, checkNothing, nil
	default:
		return v, BodySigned, checkBodyOnRead, nil
	}
}

func isHexSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// constantTimeEqual compares secrets without leaking the length of the
// common prefix, and without converting them to byte slices.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

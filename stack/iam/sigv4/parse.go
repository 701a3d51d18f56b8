package sigv4

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Bounds on the untrusted parts of a request the verifier parses.
const (
	// MaxAuthorizationBytes bounds the Authorization header.
	MaxAuthorizationBytes = 8 << 10
	// MaxSignedHeaders bounds the SignedHeaders list.
	MaxSignedHeaders = 64
	// MaxQueryBytes bounds the raw query string (a presigned URL with a long
	// session token fits easily).
	MaxQueryBytes = 16 << 10
	// MaxQueryParams bounds the number of query parameters.
	MaxQueryParams = 128
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	scopeEnd       = "aws4_request"
	amzDateLayout  = "20060102T150405Z"
	maxExpires     = 604800 // one week, in seconds
	unsignedHash   = "UNSIGNED-PAYLOAD"
	streamingHash  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	emptyStringSHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Query parameter names of a presigned request.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
)

// credential is what a client claims about itself: the parsed Authorization
// header or presigned query parameters.
type credential struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders string // as sent: lower-case names joined by ';'
	signature     [32]byte
	// presigned requests only
	amzDate string
	expires int64 // seconds
	token   string
	hasTok  bool
}

// parseAuthorization parses an Authorization header of the form
// "AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (credential, *Error) {
	var c credential
	if len(h) > MaxAuthorizationBytes {
		return c, incomplete(fmt.Sprintf("Authorization header is longer than %d bytes.", MaxAuthorizationBytes))
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != algorithm {
		return c, incomplete("Unsupported Authorization scheme: sign requests with Signature Version 4 (" + algorithm + ").")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.Trim(part, " ")
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return c, incomplete("Authorization header parameters must have the form Name=Value, separated by commas.")
		}
		var dup bool
		switch name {
		case "Credential":
			dup, haveCred, cred = haveCred, true, value
		case "SignedHeaders":
			dup, haveSigned, signed = haveSigned, true, value
		case "Signature":
			dup, haveSig, sig = haveSig, true, value
		default:
			return c, incomplete("Authorization header has an unknown parameter; it takes only Credential, SignedHeaders and Signature.")
		}
		if dup {
			return c, incomplete("Authorization header repeats the '" + name + "' parameter.")
		}
	}
	var missing []string
	for _, p := range [...]struct {
		have bool
		name string
	}{{haveCred, "Credential"}, {haveSig, "Signature"}, {haveSigned, "SignedHeaders"}} {
		if !p.have {
			missing = append(missing, "Authorization header requires '"+p.name+"' parameter.")
		}
	}
	if missing != nil {
		return c, incomplete(strings.Join(missing, " "))
	}
	if err := c.setCredential(cred, "Authorization header"); err != nil {
		return c, err
	}
	if err := c.setSignedHeaders(signed); err != nil {
		return c, err
	}
	if err := c.setSignature(sig); err != nil {
		return c, err
	}
	return c, nil
}

// setCredential parses AKID/yyyymmdd/region/service/aws4_request.
func (c *credential) setCredential(s, where string) *Error {
	var parts [5]string
	n := 0
	for n < 5 {
		var p string
		var more bool
		p, s, more = strings.Cut(s, "/")
		parts[n] = p
		n++
		if !more {
			break
		}
	}
	if n != 5 || s != "" {
		return incomplete(where + ": Credential must have the form ACCESS_KEY_ID/yyyymmdd/region/service/aws4_request.")
	}
	for i, p := range parts[:4] {
		if p == "" {
			return incomplete(where + ": Credential has an empty " + [...]string{"access key id", "date", "region", "service"}[i] + ".")
		}
	}
	if !isDigits(parts[1]) || len(parts[1]) != 8 {
		return incomplete(where + ": the Credential's date must be yyyymmdd.")
	}
	if parts[4] != scopeEnd {
		return invalidSignature("Credential should be scoped with a valid terminator: '" + scopeEnd + "'.")
	}
	c.accessKeyID, c.date, c.region, c.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders checks the list: lower-case header names, strictly
// ascending (so no duplicates), host included, at most MaxSignedHeaders.
func (c *credential) setSignedHeaders(s string) *Error {
	if s == "" {
		return incomplete("SignedHeaders must name at least the 'host' header.")
	}
	n, prev, host := 0, "", false
	for rest := s; ; {
		name, more, found := strings.Cut(rest, ";")
		if n++; n > MaxSignedHeaders {
			return incomplete(fmt.Sprintf("SignedHeaders names more than %d headers.", MaxSignedHeaders))
		}
		if !isLowerToken(name) {
			return incomplete("SignedHeaders must be lower-case header names separated by ';'.")
		}
		if n > 1 && name <= prev {
			return incomplete("SignedHeaders must be sorted and must not repeat a header.")
		}
		host = host || name == "host"
		prev, rest = name, more
		if !found {
			break
		}
	}
	if !host {
		return incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	c.signedHeaders = s
	return nil
}

func (c *credential) setSignature(s string) *Error {
	if len(s) != 2*len(c.signature) {
		return incomplete("Signature must be 64 hexadecimal characters.")
	}
	if _, err := hex.Decode(c.signature[:], []byte(s)); err != nil {
		return incomplete("Signature must be 64 hexadecimal characters.")
	}
	return nil
}

// queryParam is one decoded query parameter; enc* are the canonical
// (AWS URI-encoded) forms.
type queryParam struct {
	key, value       string
	encKey, encValue string
}

// parseQuery decodes raw the way net/url.ParseQuery does (the SDK signer
// canonicalises req.URL.Query()): pairs with a ';' or a bad escape are
// skipped, '+' is a space. It appends to dst and refuses oversize input.
func parseQuery(dst []queryParam, raw string) ([]queryParam, *Error) {
	if len(raw) > MaxQueryBytes {
		return dst, incomplete(fmt.Sprintf("The query string is longer than %d bytes.", MaxQueryBytes))
	}
	if strings.Count(raw, "&") >= MaxQueryParams {
		return dst, incomplete(fmt.Sprintf("The query string has more than %d parameters.", MaxQueryParams))
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		dst = append(dst, queryParam{key: key, value: value, encKey: uriEncode(key), encValue: uriEncode(value)})
	}
	return dst, nil
}

// uriEncode is AWS's query component encoding: everything but A-Z a-z 0-9
// - . _ ~ percent-encoded, upper-case hex. It does not allocate for strings
// that need no encoding.
func uriEncode(s string) string {
	enc := url.QueryEscape(s)
	if strings.IndexByte(enc, '+') < 0 {
		return enc
	}
	return strings.ReplaceAll(enc, "+", "%20")
}

// isPresigned reports whether the query carries presigned-URL parameters.
func isPresigned(params []queryParam) bool {
	for i := range params {
		switch params[i].key {
		case qAlgorithm, qCredential, qSignature:
			return true
		}
	}
	return false
}

// parsePresigned reads the X-Amz-* authentication parameters of a presigned
// request.
func parsePresigned(params []queryParam) (credential, *Error) {
	var c credential
	var vals [7]string
	var seen [7]bool
	names := [7]string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature, qSecurityToken}
	for i := range params {
		for j, n := range names {
			if params[i].key == n {
				if seen[j] {
					return c, incomplete("AWS query-string parameters must not repeat '" + n + "'.")
				}
				seen[j], vals[j] = true, params[i].value
			}
		}
	}
	for j, n := range names[:6] {
		if !seen[j] {
			return c, incomplete("AWS query-string parameters must include '" + n + "'. Re-examine the query-string parameters.")
		}
	}
	if vals[0] != algorithm {
		return c, incomplete("X-Amz-Algorithm only supports '" + algorithm + "'.")
	}
	if err := c.setCredential(vals[1], "X-Amz-Credential"); err != nil {
		return c, err
	}
	if _, err := parseAmzDate(vals[2]); err != nil {
		return c, incomplete("X-Amz-Date must be in the ISO 8601 basic format yyyymmddThhmmssZ.")
	}
	c.amzDate = vals[2]
	e := vals[3]
	if len(e) == 0 || len(e) > 6 || !isDigits(e) {
		return c, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week).")
	}
	for _, d := range []byte(e) {
		c.expires = c.expires*10 + int64(d-'0')
	}
	if c.expires < 1 || c.expires > maxExpires {
		return c, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week).")
	}
	if err := c.setSignedHeaders(vals[4]); err != nil {
		return c, err
	}
	if err := c.setSignature(vals[5]); err != nil {
		return c, err
	}
	c.token, c.hasTok = vals[6], seen[6]
	return c, nil
}

// parseAmzDate parses the ISO 8601 basic form yyyymmddThhmmssZ strictly.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' || !isDigits(s[:8]) || !isDigits(s[9:15]) {
		return time.Time{}, fmt.Errorf("%q is not yyyymmddThhmmssZ", s)
	}
	num := func(a, b int) int {
		n := 0
		for _, d := range []byte(s[a:b]) {
			n = n*10 + int(d-'0')
		}
		return n
	}
	y, mo, d, h, mi, se := num(0, 4), num(4, 6), num(6, 8), num(9, 11), num(11, 13), num(13, 15)
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != se {
		return time.Time{}, fmt.Errorf("%q is not a valid date and time", s)
	}
	return t, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLowerToken reports whether s is a non-empty HTTP field name (RFC 9110
// token) without upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Package device is the device side of camera identity: enrollment against
// a camstorm stack's CA and temporary credentials from an AWS IoT-style
// credential provider, as the KVS producer SDK's IotCredentialProvider gets
// them (kvs-protocol.md §4.7, §5.2).
package device

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// ErrInvalidThingName is the error ValidateThingName wraps.
var ErrInvalidThingName = errors.New("invalid thing name")

// thingNamePattern is the KVS stream-name charset: the camera role names
// the stream after the thing. The stack's enrollment endpoint checks CSRs
// with ValidateThingName too.
var thingNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)

// ValidateThingName checks a thing name against the KVS stream-name
// charset, since the camera role names the stream after the thing.
func ValidateThingName(thing string) error {
	if !thingNamePattern.MatchString(thing) {
		return fmt.Errorf("%w %q: use 1-256 characters of letters, digits and _.- (it is also the stream name)", ErrInvalidThingName, thing)
	}
	return nil
}

// NewCSR makes an ECDSA P-256 key and a certificate signing request whose
// subject CN is the thing name, both PEM-encoded.
func NewCSR(thing string, random io.Reader) (keyPEM, csrPEM []byte, err error) {
	if err := ValidateThingName(thing); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return nil, nil, fmt.Errorf("device: generating the key of %s: %w", thing, err)
	}
	der, err := x509.CreateCertificateRequest(random, &x509.CertificateRequest{Subject: pkix.Name{CommonName: thing}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("device: making the certificate request of %s: %w", thing, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("device: encoding the key of %s: %w", thing, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Identity is what a camera holds after enrolling: its private key and the
// certificate the stack's CA issued for its thing name, and where the stack
// said to get credentials with them.
type Identity struct {
	ThingName string
	// CertificateID is the stack's id of the certificate (hex SHA-256 of
	// its DER, as AWS IoT's certificateId).
	CertificateID string
	// RoleAlias and CredentialProviderURL come from the enrollment answer;
	// the URL is empty when the stack does not know where its provider
	// listens.
	RoleAlias, CredentialProviderURL string
	// Certificate is the key and certificate, parsed (Leaf set), for
	// mutual TLS with the credential provider.
	Certificate tls.Certificate
	// KeyPEM, CSRPEM and CertificatePEM are the same material, PEM-encoded
	// for writing to files.
	KeyPEM, CSRPEM, CertificatePEM []byte
}

// EnrollError is a refusal from the enrollment endpoint: any answer but
// 200, with the code and message of its JSON body ({"code":…,"message":…})
// or, for another body, its first bytes as the message.
type EnrollError struct {
	Status  int
	Code    string
	Message string
}

func (e *EnrollError) Error() string {
	return fmt.Sprintf("enrollment refused (HTTP %d %s): %s", e.Status, e.Code, e.Message)
}

// maxEnrollAnswer bounds the enrollment endpoint's answer (a certificate
// and a few names: about 2 KiB).
const maxEnrollAnswer = 64 << 10

// maxErrorMessage bounds the message kept from a body that is not JSON.
const maxErrorMessage = 200

// Enroll makes a P-256 key and a certificate signing request for thing
// (reading random), has the enrollment endpoint (enrollURL, e.g.
// https://host:port/enroll) sign it, presenting the enrollment token, and
// checks that the issued certificate matches the key. hc must trust the
// stack's CA. A refusal is an *EnrollError.
func Enroll(ctx context.Context, hc *http.Client, enrollURL, token, thing string, random io.Reader) (Identity, error) {
	keyPEM, csrPEM, err := NewCSR(thing, random)
	if err != nil {
		return Identity{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, enrollURL, bytes.NewReader(csrPEM))
	if err != nil {
		return Identity{}, fmt.Errorf("device: enrollment URL %q: %w", enrollURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := hc.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("device: enrolling %s: %w", thing, err)
	}
	defer resp.Body.Close()
	body, over, err := readBounded(resp.Body, maxEnrollAnswer)
	if err != nil {
		return Identity{}, fmt.Errorf("device: enrolling %s: reading the answer: %w", thing, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if over || json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = excerpt(body)
		}
		return Identity{}, fmt.Errorf("device: enrolling %s: %w", thing, &EnrollError{Status: resp.StatusCode, Code: e.Code, Message: e.Message})
	}
	if over {
		return Identity{}, fmt.Errorf("device: enrolling %s: the answer is over %d bytes: is %s the stack's enrollment endpoint?", thing, maxEnrollAnswer, enrollURL)
	}
	id, err := parseEnrollment(body, thing, keyPEM)
	if err != nil {
		return Identity{}, fmt.Errorf("device: enrolling %s: %w", thing, err)
	}
	id.CSRPEM = csrPEM
	return id, nil
}

// enrollment is the JSON answer of POST /enroll, as stack/iam.Enrollment.
type enrollment struct {
	CertificatePEM        string `json:"certificatePem"`
	CertificateID         string `json:"certificateId"`
	ThingName             string `json:"thingName"`
	CredentialProviderURL string `json:"credentialProviderUrl"`
	RoleAlias             string `json:"roleAlias"`
}

// parseEnrollment decodes an enrollment answer for thing and pairs its
// certificate with the device key.
func parseEnrollment(body []byte, thing string, keyPEM []byte) (Identity, error) {
	var ans enrollment
	if err := json.Unmarshal(body, &ans); err != nil {
		return Identity{}, fmt.Errorf("the answer is not an enrollment: %w", err)
	}
	if ans.ThingName != "" && ans.ThingName != thing {
		return Identity{}, fmt.Errorf("the stack enrolled thing %q, not the one asked for", ans.ThingName)
	}
	certPEM := []byte(ans.CertificatePEM)
	if block, _ := pem.Decode(certPEM); block == nil || block.Type != "CERTIFICATE" {
		return Identity{}, errors.New("the enrollment answer carries no PEM certificate")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return Identity{}, fmt.Errorf("the issued certificate does not pair with the device key: %w", err)
	}
	return Identity{ThingName: thing, CertificateID: ans.CertificateID, RoleAlias: ans.RoleAlias,
		CredentialProviderURL: ans.CredentialProviderURL, Certificate: cert, KeyPEM: keyPEM, CertificatePEM: certPEM}, nil
}

// readBounded reads r up to limit bytes and says whether there was more.
func readBounded(r io.Reader, limit int64) (body []byte, over bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}

// excerpt is the start of a body that is not the expected JSON, fit to
// quote in an error.
func excerpt(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) > maxErrorMessage {
		b = b[:maxErrorMessage]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

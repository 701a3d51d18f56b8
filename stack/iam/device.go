package iam

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DeviceEnrollment is what a device keeps after enrolling: its private key
// and CSR (PEM) beside the service's answer.
type DeviceEnrollment struct {
	Enrollment
	KeyPEM []byte
	CSRPEM []byte
}

// ValidateThingName checks a thing name against the KVS stream-name
// charset, since the camera role names the stream after the thing.
func ValidateThingName(thing string) error {
	if !thingNamePattern.MatchString(thing) {
		return fmt.Errorf("%w: thing name %q must be 1-256 characters of letters, digits and _.- (it is also the stream name)", ErrInvalid, thing)
	}
	return nil
}

// NewDeviceCSR makes an ECDSA P-256 key and a certificate signing request
// whose subject CN is the thing name, both PEM-encoded.
func NewDeviceCSR(thing string, random io.Reader) (keyPEM, csrPEM []byte, err error) {
	if err := ValidateThingName(thing); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return nil, nil, fmt.Errorf("iam: generating device key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(random, &x509.CertificateRequest{Subject: pkix.Name{CommonName: thing}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("iam: making certificate request: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("iam: encoding device key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// EnrollDevice makes a device key and CSR for thing and enrolls it at
// enrollURL (the full URL of POST /enroll) with the enrollment token. The
// client must trust the stack CA.
func EnrollDevice(ctx context.Context, client *http.Client, enrollURL, token, thing string, random io.Reader) (DeviceEnrollment, error) {
	keyPEM, csrPEM, err := NewDeviceCSR(thing, random)
	if err != nil {
		return DeviceEnrollment{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, enrollURL, bytes.NewReader(csrPEM))
	if err != nil {
		return DeviceEnrollment{}, fmt.Errorf("iam: enrollment URL %q: %w", enrollURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := client.Do(req)
	if err != nil {
		return DeviceEnrollment{}, fmt.Errorf("iam: enrolling %s: %w", thing, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return DeviceEnrollment{}, fmt.Errorf("iam: enrolling %s: reading the answer: %w", thing, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = string(bytes.TrimSpace(body[:min(len(body), 200)]))
		}
		return DeviceEnrollment{}, &EnrollError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	var out DeviceEnrollment
	if err := json.Unmarshal(body, &out.Enrollment); err != nil {
		return DeviceEnrollment{}, fmt.Errorf("iam: enrolling %s: the answer is not an enrollment: %w", thing, err)
	}
	if block, _ := pem.Decode([]byte(out.CertificatePEM)); block == nil || block.Type != "CERTIFICATE" {
		return DeviceEnrollment{}, errors.New("iam: the enrollment answer carries no PEM certificate")
	}
	out.KeyPEM, out.CSRPEM = keyPEM, csrPEM
	return out, nil
}

// EnrollError is a refusal from the enrollment endpoint.
type EnrollError struct {
	Status  int
	Code    string
	Message string
}

func (e *EnrollError) Error() string {
	return fmt.Sprintf("enrollment refused (HTTP %d %s): %s", e.Status, e.Code, e.Message)
}

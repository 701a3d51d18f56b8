// Package reftarget describes camstorm's reference stack as a conformance
// Target, with every capability the stack allows (restarts, a KMS cut,
// clock shifts, its storage and audit logs). The suites never import the
// stack; this adapter is the only place the two meet.
package reftarget

import (
	"context"
	crand "crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/internal/device"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/stacktest"
)

// New describes st as a target named name. The stack should run with
// clock control on (stack.Options.ClockControl) for the rotation cases.
func New(st *stack.Stack, name string) (*conformance.Target, error) {
	pem, err := os.ReadFile(st.CACertFile)
	if err != nil {
		return nil, fmt.Errorf("reftarget: the stack's CA certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("reftarget: %s holds no PEM certificate", st.CACertFile)
	}
	account := accountOf(st.ConsumerRoleARN)
	tg := &conformance.Target{
		Name:            name,
		Region:          st.Region,
		ControlPlaneURL: st.ControlPlaneURL,
		KMSURL:          st.KMSURL,
		HTTP:            st.HTTPClient(),
		RootCAs:         roots,
		Admin:           st.AdminCredentials(),
		AccountID:       account,
		Principals:      &principals{st: st, account: account},
		Storage:         st,
		Audit:           st,
		KMSLink:         kmsLink{st},
		Clock:           st,
	}
	if ic, ok := any(st).(conformance.IngestControl); ok {
		tg.Ingest = ic
	}
	return tg, nil
}

func accountOf(arn string) string {
	// arn:aws:iam::ACCOUNT:role/NAME
	parts := strings.Split(arn, ":")
	if len(parts) >= 5 {
		return parts[4]
	}
	return ""
}

type kmsLink struct{ st *stack.Stack }

func (k kmsLink) SetKMSReachable(_ context.Context, reachable bool) error {
	k.st.SetKMSReachable(reachable)
	return nil
}

// principals enrols a device per camera (mutual TLS, IoT credential
// provider) and assumes the consumer role through STS, as applications do.
type principals struct {
	st      *stack.Stack
	account string
}

func (p *principals) Camera(ctx context.Context, stream string) (conformance.Principal, error) {
	hc := p.st.HTTPClient()
	hc.Timeout = 10 * time.Second
	id, err := device.Enroll(ctx, hc, p.st.EnrollURL, p.st.EnrollmentToken, stream, crand.Reader)
	if err != nil {
		return conformance.Principal{}, fmt.Errorf("enrolling camera %s: %w", stream, err)
	}
	tr := hc.Transport.(*http.Transport)
	creds := device.NewCredentialsCache(&device.IoTCredentials{Endpoint: p.st.IoTCredentialsURL, RoleAlias: id.RoleAlias,
		Identity: id, Transport: tr})
	return conformance.Principal{
		Name:        stream,
		ARN:         fmt.Sprintf("arn:aws:iam::%s:role/%s", p.account, iam.CameraRoleName),
		Credentials: creds,
		Revoke:      func(ctx context.Context) error { return p.revoke(ctx, id.CertificateID) },
	}, nil
}

// revoke calls AWS IoT's UpdateCertificate as the admin.
func (p *principals) revoke(ctx context.Context, certID string) error {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &kvsclient.SigningTransport{Base: p.st.HTTPClient().Transport,
		Credentials: p.st.AdminCredentials(), Region: p.st.Region, Service: "iot"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		strings.TrimRight(p.st.STSURL, "/")+"/certificates/"+url.PathEscape(certID)+"?newStatus=REVOKED", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("revoking certificate %s: %w", certID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoking certificate %s: %s: %s", certID, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func (p *principals) Consumer(_ context.Context, name string) (conformance.Principal, error) {
	return conformance.Principal{Name: name, ARN: p.st.ConsumerRoleARN, Credentials: p.st.AssumeRole(p.st.ConsumerRoleARN, name)}, nil
}

// Judge starts the embedded reference stack with the given deliberate
// defects (none: the clean stack), runs the suites — or the cases selection
// names — against it, stops it and returns the report: how suites are
// proven to pass on the clean stack and to catch each defect.
func Judge(ctx context.Context, defects []stack.Defect, selection []string, suites ...*conformance.Suite) (*conformance.Report, error) {
	st, err := stacktest.Start(ctx, defects...)
	if err != nil {
		return nil, err
	}
	defer st.Close(context.Background())
	name := "embedded"
	if len(defects) > 0 {
		name = fmt.Sprint("embedded with ", defects)
	}
	tg, err := New(st, name)
	if err != nil {
		return nil, err
	}
	return (&conformance.Runner{Target: tg, Select: selection}).Run(ctx, suites...)
}

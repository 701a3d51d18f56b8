package encryption

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

func tlsCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ENC-TLS-001", Title: "plain HTTP to the control plane and the KMS is refused", Requirement: "R-TLS-1",
			Stimulus: "Send a correctly signed DescribeStream to the control plane's host and port over plain HTTP (no TLS), " +
				"and a signed KMS ListKeys to the KMS endpoint the same way.",
			Expected: "Neither is served: the connection fails, or the answer is not an API answer " +
				"(no 2xx, no x-amzn-RequestId or x-amzn-ErrorType header), e.g. Go's 400 \"client sent an HTTP request to an HTTPS server\".",
			Parallel: true, Timeout: caseTimeout, Run: runPlainControl,
		},
		{
			ID: "ENC-TLS-002", Title: "plain HTTP to the data endpoint is refused", Requirement: "R-TLS-1",
			Stimulus: "Create a stream, ask GetDataEndpoint for its data endpoint, then send signed ListFragments and " +
				"GetMediaForFragmentList requests to that host and port over plain HTTP.",
			Expected: "Neither is served (no 2xx, no x-amzn-RequestId or x-amzn-ErrorType header); the data endpoint URL itself is https.",
			Parallel: true, Timeout: caseTimeout, Run: runPlainData,
		},
		{
			ID: "ENC-TLS-003", Title: "TLS 1.2+ only, with a certificate valid for the endpoint's host", Requirement: "R-TLS-2",
			Stimulus: "Handshake with the control plane, a data endpoint and the KMS as clients limited to TLS 1.0, to TLS 1.1, " +
				"to TLS 1.2 and to TLS 1.3, each verifying the server against the target's CA and the endpoint's host name.",
			Expected: "TLS 1.0 and 1.1 handshakes are refused by the server with a TLS alert; TLS 1.2 completes (TLS 1.3 is " +
				"recorded, not required), and the presented certificate chains to the target's CA, covers the host name, is in " +
				"date and is for server authentication.",
			Parallel: true, Timeout: caseTimeout, Run: runTLSVersions,
		},
	}
}

// plainHTTP sends a signed request over plain HTTP to rawURL's host and
// port and reports whether the endpoint served it as an API call.
func plainHTTP(ctx context.Context, t *conformance.T, service, rawURL, path string, header http.Header, body []byte) (served bool, detail string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Harnessf("endpoint URL %q does not parse: %v", rawURL, err)
	}
	u.Scheme = "http"
	u.Path = strings.TrimRight(u.Path, "/") + path
	base := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 5 * time.Second}
	defer base.CloseIdleConnections()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &kvsclient.SigningTransport{Base: base,
		Credentials: t.Target.Admin, Region: t.Target.Region, Service: service}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	t.Must(err, "building a plain HTTP request")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Sprintf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail = fmt.Sprintf("POST %s: HTTP %d, x-amzn-RequestId %q, x-amzn-ErrorType %q, body %q", u, resp.StatusCode,
		resp.Header.Get("x-amzn-RequestId"), resp.Header.Get(kvsapi.HeaderErrorType), bytes.TrimSpace(b))
	served = resp.StatusCode/100 == 2 || resp.Header.Get("x-amzn-RequestId") != "" || resp.Header.Get(kvsapi.HeaderErrorType) != ""
	return served, detail
}

func jsonHeader(extra ...string) http.Header {
	h := http.Header{"Content-Type": {kvsapi.JSONContentType}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func runPlainControl(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "plain", "")
	body := fmt.Appendf(nil, `{"StreamName":%q}`, name)
	served, detail := plainHTTP(ctx, t, "", t.Target.ControlPlaneURL, kvsapi.PathDescribeStream, jsonHeader(), body)
	t.Evidence("http", "control plane: %s", detail)
	t.Check(!served, "the control plane served DescribeStream over plain HTTP: %s", detail)
	if t.Target.KMSURL == "" {
		t.Logf("the target names no KMS endpoint; only the control plane was tried")
		return
	}
	served, detail = plainHTTP(ctx, t, "kms", t.Target.KMSURL, "", jsonHeader("Content-Type", "application/x-amz-json-1.1",
		"X-Amz-Target", "TrentService.ListKeys"), []byte(`{}`))
	t.Evidence("http", "KMS: %s", detail)
	t.Check(!served, "the KMS served ListKeys over plain HTTP: %s", detail)
}

func runPlainData(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "plain", "")
	c := admin(t)
	for _, api := range []struct{ name, path, body string }{
		{probe.APIListFragments, kvsapi.PathListFragments, fmt.Sprintf(`{"StreamName":%q}`, name)},
		{probe.APIGetMediaForFragmentList, kvsapi.PathGetMediaForFragmentList, fmt.Sprintf(`{"StreamName":%q,"Fragments":["1"]}`, name)},
	} {
		ep, err := c.DataEndpoint(ctx, name, api.name)
		t.Must(err, "GetDataEndpoint "+api.name)
		t.Check(strings.HasPrefix(ep, "https://"), "GetDataEndpoint(%s) returned %q, not an https URL", api.name, ep)
		served, detail := plainHTTP(ctx, t, "", ep, api.path, jsonHeader(), []byte(api.body))
		t.Evidence("http", "%s: %s", api.name, detail)
		t.Check(!served, "the data endpoint served %s over plain HTTP: %s", api.name, detail)
	}
}

// endpoint is a TLS endpoint of the target.
type endpoint struct{ what, url string }

func runTLSVersions(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "tls", "")
	data, err := admin(t).DataEndpoint(ctx, name, probe.APIPutMedia)
	t.Must(err, "GetDataEndpoint")
	eps := []endpoint{{"control plane", t.Target.ControlPlaneURL}, {"data endpoint", data}}
	if t.Target.KMSURL != "" {
		eps = append(eps, endpoint{"KMS", t.Target.KMSURL})
	}
	// R-TLS-2 demands TLS 1.2 or later, not TLS 1.3: its support is
	// evidence only.
	versions := []struct {
		v          uint16
		name       string
		ok, needed bool
	}{{tls.VersionTLS10, "TLS 1.0", false, false}, {tls.VersionTLS11, "TLS 1.1", false, false},
		{tls.VersionTLS12, "TLS 1.2", true, true}, {tls.VersionTLS13, "TLS 1.3", true, false}}
	for _, ep := range eps {
		u, err := url.Parse(ep.url)
		if err != nil || u.Host == "" {
			t.Harnessf("%s URL %q does not parse: %v", ep.what, ep.url, err)
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		}
		certChecked := false
		for _, v := range versions {
			cfg := &tls.Config{MinVersion: v.v, MaxVersion: v.v, RootCAs: t.Target.RootCAs, ServerName: u.Hostname()}
			if v.v < tls.VersionTLS12 {
				// Offer every suite Go still implements for old versions, so a
				// refusal is the server's, not this client's.
				cfg.CipherSuites = oldSuites()
			}
			state, err := handshake(ctx, addr, cfg)
			switch {
			case v.ok && !v.needed && err != nil:
				t.Evidence("note", "%s %s: a %s handshake failed (not required): %v", ep.what, addr, v.name, err)
			case v.ok && err != nil:
				t.Fail("%s %s: a %s handshake failed: %v", ep.what, addr, v.name, err)
				t.Evidence("tls", "%s %s: %s refused: %v", ep.what, addr, v.name, err)
			case !v.ok && err == nil:
				t.Fail("%s %s accepted a %s handshake (cipher suite %s)", ep.what, addr, v.name, tls.CipherSuiteName(state.CipherSuite))
				t.Evidence("tls", "%s %s: %s accepted, suite %s", ep.what, addr, v.name, tls.CipherSuiteName(state.CipherSuite))
			case !v.ok && !refusedByServer(err):
				t.Harnessf("%s %s: the %s handshake failed without a TLS alert from the server, which says nothing about "+
					"the server's versions: %v", ep.what, addr, v.name, err)
			case err != nil:
				t.Evidence("tls", "%s %s: %s refused: %v", ep.what, addr, v.name, err)
			default:
				t.Evidence("tls", "%s %s: %s accepted, suite %s", ep.what, addr, v.name, tls.CipherSuiteName(state.CipherSuite))
				if !certChecked {
					checkCertificate(t, ep.what, u.Hostname(), state)
					certChecked = true
				}
			}
		}
	}
}

// refusedByServer reports whether a handshake error is a TLS alert the
// server sent (e.g. protocol_version), rather than a failure of the
// network or of this client.
func refusedByServer(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true // crypto/tls reports a received alert this way
	}
	var alert tls.AlertError
	return errors.As(err, &alert)
}

// oldSuites is every cipher suite Go implements that TLS 1.0/1.1 can use.
func oldSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS10) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func handshake(ctx context.Context, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	conn, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

// checkCertificate judges the certificate a verified handshake presented.
func checkCertificate(t *conformance.T, what, host string, st tls.ConnectionState) {
	if len(st.PeerCertificates) == 0 || len(st.VerifiedChains) == 0 {
		t.Fail("%s: the handshake completed without a verified certificate chain", what)
		return
	}
	leaf := st.PeerCertificates[0]
	if err := leaf.VerifyHostname(host); err != nil {
		t.Fail("%s: certificate %q does not cover %s: %v", what, leaf.Subject, host, err)
	}
	now := time.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		t.Fail("%s: certificate %q is valid %s to %s, not now", what, leaf.Subject, leaf.NotBefore, leaf.NotAfter)
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		t.Fail("%s: certificate %q is not for server authentication (extended key usages %v)", what, leaf.Subject, leaf.ExtKeyUsage)
	}
}

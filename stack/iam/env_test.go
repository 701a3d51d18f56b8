package iam

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/camstorm/camstorm/stack/pki"
	"github.com/stretchr/testify/require"
)

// clock is a settable time source for the service under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Service with its three endpoints served over real TLS on
// loopback, signed by a real stack CA in a temporary directory.
type env struct {
	t        *testing.T
	dir      string
	ca       *pki.CA
	clock    *clock
	svc      *Service
	server   tls.Certificate
	enroll   string // URL of POST /enroll
	provider string // base URL of the credential provider (mutual TLS)
	sts      string // STS endpoint
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	require.NoError(t, err)
	server, err := ca.ServerCertificate([]string{"127.0.0.1"})
	require.NoError(t, err)
	e := &env{t: t, dir: dir, ca: ca, server: server, clock: &clock{t: time.Now()}}
	e.open()
	return e
}

// open (re)opens the service on the env's data directory and serves it.
func (e *env) open() {
	e.t.Helper()
	svc, err := Open(Config{DataDir: filepath.Join(e.dir, "iam"), CA: e.ca, Clock: e.clock.Now, Rand: rand.Reader,
		Logf: e.t.Logf, CredentialProviderURL: "https://credentials.example"})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = svc.Close() })
	e.svc = svc
	e.enroll = serveTLS(e.t, svc.EnrollHandler(), pki.ServerTLS(e.server)) + "/enroll"
	e.provider = serveTLS(e.t, svc.CredentialProviderHandler(), svc.CredentialProviderTLS(e.server))
	e.sts = serveTLS(e.t, svc.STSHandler(testAuthenticate(svc), testAuthorize), pki.ServerTLS(e.server))
}

// serveTLS serves h over TLS on 127.0.0.1:0 until the test ends.
func serveTLS(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Refused handshakes are what several tests expect; keep them out of the output.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

// client trusts the stack CA and, when cert is given, presents it. It
// keeps TLS sessions, so new connections resume them when they can.
func (e *env) client(cert ...tls.Certificate) *http.Client {
	cfg := e.ca.ClientTLS()
	cfg.Certificates = cert
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// codedError carries an STS error code, as a SigV4 verifier's errors do.
type codedError struct{ code, msg string }

func (e *codedError) Error() string     { return e.msg }
func (e *codedError) ErrorCode() string { return e.code }

var credentialPattern = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

// testAuthenticate is TEST-ONLY: it trusts the access key id named in the
// Authorization header without checking the signature. The stack plugs in
// the real SigV4 verifier.
func testAuthenticate(svc *Service) Authenticate {
	return func(r *http.Request) (Principal, error) {
		// A verifier hashes the body: it must still be there.
		if body, err := io.ReadAll(r.Body); err != nil || int64(len(body)) != r.ContentLength || !bytes.Contains(body, []byte("Action=")) {
			return Principal{}, &codedError{"IncompleteSignature", "test authenticator: the body was not handed over intact"}
		}
		m := credentialPattern.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			return Principal{}, &codedError{"MissingAuthenticationToken", "request is not signed"}
		}
		// As the SigV4 verifier does: find the key by id, then insist on its token.
		c, ok := svc.LookupAccessKey(m[1])
		if !ok || subtle.ConstantTimeCompare([]byte(c.SessionToken), []byte(r.Header.Get("X-Amz-Security-Token"))) != 1 {
			return Principal{}, &codedError{"InvalidClientTokenId", "The security token included in the request is invalid."}
		}
		if c.Expired(svc.cfg.Clock()) {
			return Principal{}, &codedError{"ExpiredToken", "The security token included in the request is expired"}
		}
		return c.Principal, nil
	}
}

// testAuthorize is TEST-ONLY: for sts:AssumeRole it allows callers of the
// role's own account when the trust policy names that account's root or
// the caller's ARN as an AWS principal. The stack plugs in the policy
// evaluator.
func testAuthorize(caller Principal, action, resource, trustPolicy string) error {
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS json.RawMessage }
		}
	}
	if action != "sts:AssumeRole" || json.Unmarshal([]byte(trustPolicy), &doc) != nil {
		return errors.New("test authorizer: only sts:AssumeRole with a list of statements")
	}
	for _, st := range doc.Statement {
		var aws []string
		var one string
		if json.Unmarshal(st.Principal.AWS, &one) == nil {
			aws = []string{one}
		} else {
			_ = json.Unmarshal(st.Principal.AWS, &aws)
		}
		if st.Effect == "Allow" && (slices.Contains(aws, "arn:aws:iam::"+caller.Account+":root") || slices.Contains(aws, caller.ARN)) {
			return nil
		}
	}
	return errors.New("test authorizer: the trust policy does not name the caller")
}

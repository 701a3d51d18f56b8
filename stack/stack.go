// Package stack composes camstorm's reference stack — the KVS-compatible
// ingest, its KMS and the identity services (enrollment, IoT credential
// provider, STS) behind TLS, SigV4, IAM-style policies and a hash-chained
// audit trail — and starts it in-process on loopback (Embedded mode).
package stack

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/policy"
	"github.com/camstorm/camstorm/stack/ingest"
	"github.com/camstorm/camstorm/stack/kms"
	"github.com/camstorm/camstorm/stack/pki"
)

// Options configure an embedded stack. Zero values take the defaults noted.
type Options struct {
	// DataDir holds the CA, certificates and stored fragments. Empty means a
	// fresh temporary directory that Close removes.
	DataDir string
	// ControlAddr, DataAddr, KMSAddr, IdentityAddr, IoTAddr and
	// MetricsAddr are listen addresses; default 127.0.0.1:0 each (a free
	// port). Control plane, data plane, KMS, identity (STS and device
	// enrollment) and the IoT credential provider (mutual TLS) are served
	// over TLS on separate listeners, as AWS serves them from separate
	// hosts; metrics are plain HTTP.
	ControlAddr, DataAddr, KMSAddr, IdentityAddr, IoTAddr, MetricsAddr string
	// Ingest carries ingest settings (timeouts, limits, clock, logger);
	// DataDir and DataEndpoint are filled in by the stack.
	Ingest ingest.Config
	// Hosts are extra names or addresses the server certificate covers.
	Hosts []string
	// PlaintextAtRest stores fragments unencrypted (benchmarks compare);
	// by default the ingest encrypts every fragment under a data key from
	// the stack's KMS, as KVS always does.
	PlaintextAtRest bool
	// KMSClock drives the KMS's automatic key rotations and scheduled
	// deletions; nil means time.Now. Tests move it forward to let a
	// rotation period pass.
	KMSClock func() time.Time
	// IdentityClock drives credential expiry and certificate validity;
	// nil means time.Now.
	IdentityClock func() time.Time

	// Role is what Start serves: RoleAll (StartEmbedded's), or one of
	// RoleIdentity, RoleKMS, RoleIngest for a process of its own.
	Role string
	// PKIDir and IdentityDir are the CA's and the identity state's
	// directories when they are shared between processes (a volume);
	// default DataDir/pki and DataDir/iam. The identity role writes
	// IdentityDir; the others read it.
	PKIDir, IdentityDir string
	// KMSURL is where the ingest reaches the KMS when it runs elsewhere
	// (e.g. https://kms:7443 on a container network).
	KMSURL string
	// PublicDataURL and PublicIoTURL are the data plane's and the
	// credential provider's URLs as clients reach them (GetDataEndpoint
	// and enrollment answers name them) when that is not the listen
	// address, as behind a container's port mapping.
	PublicDataURL, PublicIoTURL string
	// ClockControl lets tests and conformance suites shift the KMS's and
	// the identity service's clocks (Stack.ShiftClock, PathClock on the
	// metrics listener). Never in production. KMSClock and IdentityClock,
	// when set, win.
	ClockControl bool
	// Defects start the stack with deliberate flaws (defects.go), to prove
	// that conformance suites catch them. Never in production.
	Defects []Defect
}

// Endpoints describe a running stack to its clients; `camstorm stack up`
// prints them as one JSON line.
type Endpoints struct {
	ControlPlaneURL string `json:"control_plane_url"`
	DataPlaneURL    string `json:"data_plane_url"`
	// KMSURL is the reference KMS (AWS KMS JSON 1.1): point an AWS SDK or
	// the AWS CLI (--endpoint-url) at it.
	KMSURL     string `json:"kms_url"`
	MetricsURL string `json:"metrics_url"`
	CACertFile string `json:"ca_cert_file"`
	Region     string `json:"region"`
	DataDir    string `json:"data_dir"`
	// STSURL serves AssumeRole and GetCallerIdentity (the AWS STS query
	// protocol); EnrollURL signs device certificates for the bearer of
	// EnrollmentToken; IoTCredentialsURL is the mutual-TLS credential
	// provider (GET /role-aliases/CameraRoleAlias/credentials).
	STSURL            string `json:"sts_url"`
	EnrollURL         string `json:"enroll_url"`
	EnrollmentToken   string `json:"enrollment_token"`
	IoTCredentialsURL string `json:"iot_credentials_url"`
	CameraRoleAlias   string `json:"camera_role_alias"`
	ConsumerRoleARN   string `json:"consumer_role_arn"`
	AdminRoleARN      string `json:"admin_role_arn"`
	// AdminAccessKeyID and AdminSecretAccessKey are the bootstrap admin's
	// long-term keys, the only ones the stack has: use them to assume a
	// role, not for everyday calls.
	AdminAccessKeyID     string `json:"admin_access_key_id"`
	AdminSecretAccessKey string `json:"admin_secret_access_key"`
	AuditLog             string `json:"audit_log"`
}

// Stack is a running embedded stack.
type Stack struct {
	Endpoints
	ingest *ingest.Server
	// The ingest's listeners serve it through these, so RestartIngest and
	// CrashIngest can put a new ingest behind the same URLs.
	ingestMu     sync.Mutex
	ingestCfg    ingest.Config
	controlH     *swapHandler
	dataH        *swapHandler
	metricsH     *swapHandler
	ingestConns  *connSet
	ingestClosed bool // Close ran: no more restarts
	kms          *kms.Server
	kmsHTTP      *http.Client // the ingest's connections to its KMS
	kmsLink      *kmsLink     // and the network path they take
	iam          *iam.Service
	audit        *audit.Log
	gateway      *gateway
	access       *access
	cs           *containerStack // containers mode
	clocks       clocks          // shiftable clocks (Options.ClockControl)
	ca           *pki.CA
	servers      []*http.Server
	tempDir      string
	errs         chan error
	once         sync.Once
	logf         func(format string, args ...any)
}

// Roles a stack process can play: all of them (the embedded stack), or
// one service each, as in containers mode, where the identity service
// owns the identity state and the ingest and the KMS read it from a shared
// directory (iam.OpenReplica).
const (
	RoleAll      = "all"
	RoleIdentity = "identity"
	RoleKMS      = "kms"
	RoleIngest   = "ingest"
)

// StartEmbedded starts the whole stack in this process and returns once
// every listener accepts connections.
func StartEmbedded(ctx context.Context, o Options) (*Stack, error) {
	o.Role = RoleAll
	return Start(ctx, o)
}

// Start starts the services of o.Role in this process and returns once
// their listeners accept connections. Endpoints lists what this process
// serves; with one role, the others' fields stay empty.
func Start(ctx context.Context, o Options) (*Stack, error) {
	s := &Stack{errs: make(chan error, 8), logf: o.Ingest.Logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	role := cmp.Or(o.Role, RoleAll)
	switch role {
	case RoleAll, RoleIdentity, RoleKMS, RoleIngest:
	default:
		return nil, fmt.Errorf("stack: role %q: want %s, %s, %s or %s", o.Role, RoleAll, RoleIdentity, RoleKMS, RoleIngest)
	}
	has := func(r string) bool { return role == RoleAll || role == r }
	defects, err := newDefectSet(o.Defects)
	if err != nil {
		return nil, err
	}
	if defects[DefectPlaintextAtRest] {
		o.PlaintextAtRest = true
	}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "camstorm-stack-*")
		if err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		o.DataDir, s.tempDir = dir, dir
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("stack: data directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close(context.Background())
		}
	}()
	if s.ca, err = pki.LoadOrCreate(cmp.Or(o.PKIDir, filepath.Join(o.DataDir, "pki"))); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}

	listen := func(addr string) (net.Listener, error) {
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("stack: listening on %s: %w (choose another address, or port 0 for any free one)", addr, err)
		}
		return ln, nil
	}
	// Every listener is closed if the stack does not start.
	var listeners []net.Listener
	defer func() {
		if !ok {
			for _, ln := range listeners {
				ln.Close()
			}
		}
	}()
	var ctlLn, dataLn, kmsLn, idLn, iotLn, metLn net.Listener
	for _, l := range []struct {
		ln   *net.Listener
		addr string
		on   bool
	}{{&ctlLn, o.ControlAddr, has(RoleIngest)}, {&dataLn, o.DataAddr, has(RoleIngest)}, {&kmsLn, o.KMSAddr, has(RoleKMS)},
		{&idLn, o.IdentityAddr, has(RoleIdentity)}, {&iotLn, o.IoTAddr, has(RoleIdentity)}, {&metLn, o.MetricsAddr, true}} {
		if !l.on {
			continue
		}
		if *l.ln, err = listen(l.addr); err != nil {
			return nil, err
		}
		listeners = append(listeners, *l.ln)
	}

	hosts := append([]string{"127.0.0.1", "localhost", "::1"}, o.Hosts...)
	for _, ln := range listeners {
		if h, _, _ := net.SplitHostPort(ln.Addr().String()); h != "" && !containsHost(hosts, h) && !net.ParseIP(h).IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	cert, err := s.ca.ServerCertificate(hosts)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	tlsCfg := pki.ServerTLS(cert)
	if defects[DefectWeakTLS] {
		tlsCfg.MinVersion = tls.VersionTLS10 // deliberate defect
	}
	// tlsListener serves TLS; with the defect plain-http, the control and
	// data planes also answer unencrypted HTTP on the same port.
	tlsListener := func(ln net.Listener, plainToo bool) net.Listener {
		if plainToo && defects[DefectPlainHTTP] {
			return newSniffListener(ln, tlsCfg)
		}
		return tls.NewListener(ln, tlsCfg)
	}
	url := func(ln net.Listener) string {
		if ln == nil {
			return ""
		}
		return "https://" + dialable(ln.Addr())
	}

	if o.ClockControl {
		s.clocks = clocks{}
		if o.KMSClock == nil && has(RoleKMS) {
			c := &shiftClock{}
			s.clocks[ClockKMS], o.KMSClock = c, c.now
		}
		if o.IdentityClock == nil {
			c := &shiftClock{}
			s.clocks[ClockIdentity], o.IdentityClock = c, c.now
		}
	}

	ic := o.Ingest
	ic.DataDir = o.DataDir
	ic.DataEndpoint = cmp.Or(o.PublicDataURL, url(dataLn))
	ic.Region = regionOr(ic.Region)
	if ic.Account == "" {
		ic.Account = defaultAccount
	}
	iotURL := cmp.Or(o.PublicIoTURL, url(iotLn))
	idDir := cmp.Or(o.IdentityDir, filepath.Join(o.DataDir, "iam"))
	if has(RoleIdentity) {
		s.iam, err = iam.Open(iam.Config{DataDir: idDir, CA: s.ca, Account: ic.Account,
			Clock: o.IdentityClock, CredentialProviderURL: iotURL, Logf: s.logf, IgnoreRevocation: defects[DefectIgnoreRevocation]})
	} else {
		s.iam, err = iam.OpenReplica(iam.Config{DataDir: idDir, Account: ic.Account, Clock: o.IdentityClock, Logf: s.logf})
	}
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(o.DataDir, "audit"), 0o700); err != nil {
		return nil, fmt.Errorf("stack: audit directory: %w", err)
	}
	if s.audit, err = audit.Open(filepath.Join(o.DataDir, "audit", "audit.log"), audit.Options{Logf: s.logf}); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	g, err := newGateway(s.iam, s.audit, ic.Region, ic.Account, s.logf, defects)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	acc := &access{iam: s.iam, region: ic.Region, clock: time.Now, parsed: map[string]*policy.Policy{},
		ignoreOwnership: defects[DefectIgnoreStreamOwnership], ignoreKeyPolicy: defects[DefectIgnoreKeyPolicy],
		overbroadRoles: defects[DefectOverbroadRoles]}
	s.gateway, s.access = g, acc
	ingestRole := s.iam.RoleARN(IngestRoleName)
	if has(RoleIdentity) {
		if ingestRole, err = ensureIngestRole(s.iam); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
	}
	admin := s.iam.AdminCredential()
	s.Endpoints = Endpoints{
		MetricsURL:           "http://" + dialable(metLn.Addr()) + "/metrics",
		CACertFile:           s.ca.CACertPath(),
		Region:               ic.Region,
		DataDir:              o.DataDir,
		CameraRoleAlias:      iam.CameraRoleAlias,
		ConsumerRoleARN:      s.iam.RoleARN(iam.ConsumerRoleName),
		AdminRoleARN:         s.iam.RoleARN(iam.AdminRoleName),
		AdminAccessKeyID:     admin.AccessKeyID,
		AdminSecretAccessKey: admin.SecretAccessKey,
		AuditLog:             s.audit.Path(),
		KMSURL:               cmp.Or(o.KMSURL, url(kmsLn)),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	if s.clocks != nil {
		mux.Handle(PathClock, s.clocks.handler())
	}

	if has(RoleKMS) {
		if s.kms, err = kms.New(kms.Config{DataDir: filepath.Join(o.DataDir, "kms"), Region: ic.Region, Account: ic.Account,
			Clock: o.KMSClock, Logf: s.logf, Caller: acc.kmsCaller(ingestRole), Defects: kms.Defects{
				ForgetOldKeyVersions:    defects[DefectForgetOldKeyVersions],
				StaleKeyVersion:         defects[DefectStaleKeyVersion],
				IgnoreEncryptionContext: defects[DefectIgnoreEncryptionContext],
			}}); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		kmsMux := http.NewServeMux()
		kmsMux.Handle(PathKeyUse, keyUseHandler(acc, s.kms, ingestRole))
		kmsMux.Handle("/", s.kms.Handler())
		s.serve(tlsListener(kmsLn, false), g.wrap(kmsService(g), kmsMux))
	}
	if has(RoleIngest) {
		if !o.PlaintextAtRest && ic.KMS == nil {
			if s.KMSURL == "" {
				return nil, errors.New("stack: the ingest needs its KMS's URL (Options.KMSURL) when the KMS runs elsewhere")
			}
			// The ingest reaches its KMS through the AWS SDK, as it would
			// AWS KMS, with the temporary credentials of its own role.
			s.kmsLink = newKMSLink()
			s.kmsHTTP = &http.Client{Transport: &http.Transport{DialContext: s.kmsLink.DialContext,
				TLSClientConfig: s.ca.ClientTLS(), MaxIdleConnsPerHost: 16}}
			ingestCreds := aws.NewCredentialsCache(roleCredentials(s.iam, ingestRole, "ingest"))
			kmsURL := s.KMSURL
			ic.KMS = awskms.New(awskms.Options{Region: ic.Region, HTTPClient: s.kmsHTTP, Credentials: ingestCreds},
				func(o *awskms.Options) { o.BaseEndpoint = aws.String(kmsURL) })
			acc.keys = &remoteKeyUse{url: kmsURL, clock: time.Now, decisions: map[string]keyUseDecision{},
				hc: &http.Client{Transport: &kvsclient.SigningTransport{Base: s.kmsHTTP.Transport, Credentials: ingestCreds,
					Region: ic.Region, Service: signKMS}}}
		}
		ic.Authorizer = acc
		ic.Defects = ingest.Defects{
			ReuseNonce:              defects[DefectReuseNonce],
			DropResentFragment:      defects[DefectDropResentFragment],
			DuplicateResentFragment: defects[DefectDuplicateResentFragment],
			PersistedBeforeDurable:  defects[DefectPersistedBeforeDurable],
			TamperMedia:             defects[DefectTamperMedia],
			ReorderFragments:        defects[DefectReorderFragments],
			WrongErrorAck:           defects[DefectWrongErrorAck],
			StoreDataKeys:           defects[DefectPlaintextDataKeys],
		}
		if s.ingest, err = ingest.New(ic); err != nil {
			return nil, err
		}
		s.ingestCfg = ic
		s.controlH, s.dataH, s.metricsH = newSwapHandler(s.ingest.ControlHandler()), newSwapHandler(s.ingest.DataHandler()),
			newSwapHandler(s.ingest.MetricsHandler())
		s.ingestConns = &connSet{conns: map[net.Conn]struct{}{}}
		s.ControlPlaneURL, s.DataPlaneURL = url(ctlLn), ic.DataEndpoint
		s.serveTracked(tlsListener(ctlLn, true), g.wrap(kvsService(g, false), s.controlH), s.ingestConns)
		s.serveTracked(tlsListener(dataLn, true), g.wrap(kvsService(g, true), s.dataH), s.ingestConns)
		mux.Handle("/metrics", s.metricsH)
	}
	if has(RoleIdentity) {
		idURL := url(idLn)
		s.STSURL, s.EnrollURL, s.EnrollmentToken, s.IoTCredentialsURL = idURL, idURL+"/enroll", s.iam.EnrollmentToken(), iotURL
		idMux := http.NewServeMux()
		idMux.Handle("/enroll", g.wrapUnsigned(iotService(g, "EnrollThing"), s.iam.EnrollHandler()))
		idMux.Handle("/certificates/", g.wrap(iotAPIService(g), updateCertificateHandler(acc, s.iam)))
		idMux.Handle("/", g.wrap(stsService(g), s.iam.STSHandler(authenticatedCaller, acc.authorizeAssumeRole)))
		s.serve(tlsListener(idLn, false), idMux)
		iotTLS := s.iam.CredentialProviderTLS(cert)
		if defects[DefectWeakTLS] {
			iotTLS.MinVersion = tls.VersionTLS10 // deliberate defect
		}
		s.serve(tls.NewListener(iotLn, iotTLS), g.wrapUnsigned(iotService(g, "AssumeRoleWithCertificate"), s.iam.CredentialProviderHandler()))
	}
	s.serve(metLn, mux)
	ok = true
	return s, nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) {
	// Connection-level errors (TLS handshakes cut by a client's network,
	// which fleets do on purpose) go to the ingest's log, not to stderr.
	s.serveTracked(ln, h, nil)
}

// serveTracked is serve, noting the server's connections in conns (if
// set) so that CrashIngest can cut them.
func (s *Stack) serveTracked(ln net.Listener, h http.Handler, conns *connSet) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(logfWriter(s.logf), "", 0)}
	if conns != nil {
		srv.ConnState = conns.track
	}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	}()
}

// logfWriter adapts a Logf function to the io.Writer a log.Logger needs.
type logfWriter func(format string, args ...any)

func (w logfWriter) Write(b []byte) (int, error) {
	w("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Err reports a listener that stopped unexpectedly.
func (s *Stack) Err() <-chan error { return s.errs }

// Ingest is the running ingest server.
func (s *Stack) Ingest() *ingest.Server {
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	return s.ingest
}

// SetKMSReachable partitions the ingest from the stack's KMS (false) or
// heals the partition (true), to test how producers and readers live
// through a KMS outage: while partitioned, the ingest's KMS connections
// break and new ones are refused, so fragments needing a new data key get
// ERROR 4503 (KMS_KEY_UNAVAILABLE). Clients outside the stack still reach
// the KMS. It does nothing when the ingest does not use the stack's KMS
// (PlaintextAtRest, or an Ingest.KMS of the caller's).
//
// In containers mode the KMS container is disconnected from (and
// reconnected to) the stack's network instead, so the ingest cannot reach
// it; clients on the host lose it too.
func (s *Stack) SetKMSReachable(reachable bool) {
	if s.kmsLink != nil {
		s.kmsLink.setCut(!reachable)
	}
	if s.cs != nil {
		s.cs.kmsMu.Lock()
		defer s.cs.kmsMu.Unlock()
		if s.cs.kmsCut == !reachable {
			return
		}
		s.cs.kmsCut = !reachable
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if reachable {
			err = s.cs.kms.Connect(ctx, s.cs.network)
		} else {
			err = s.cs.kms.Disconnect(ctx, s.cs.network)
		}
		if err != nil {
			s.logf("stack: %v", err)
		}
	}
}

// CA is the stack's certificate authority.
func (s *Stack) CA() *pki.CA { return s.ca }

// HTTPClient returns a client that trusts the stack's CA. Its requests are
// not signed: give it to an AWS SDK client (which signs) or use AdminClient.
func (s *Stack) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: s.ca.ClientTLS(), ForceAttemptHTTP2: false}}
}

// AdminCredentials are the bootstrap admin's long-term keys.
func (s *Stack) AdminCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AdminAccessKeyID, s.AdminSecretAccessKey, "")
}

// AdminClient is HTTPClient signing every KVS request as the bootstrap
// admin: for tests and tools that act as the operator.
func (s *Stack) AdminClient() *http.Client {
	return &http.Client{Transport: &kvsclient.SigningTransport{Base: s.HTTPClient().Transport,
		Credentials: s.AdminCredentials(), Region: s.Region}}
}

// AssumeRole returns credentials for roleARN (ConsumerRoleARN, AdminRoleARN
// or a role of the caller's own) that renew themselves, got as an
// application gets them: the AWS SDK's STS client calls AssumeRole on the
// stack's STS endpoint, signed with the bootstrap admin's keys.
func (s *Stack) AssumeRole(roleARN, session string) aws.CredentialsProvider {
	client := sts.New(sts.Options{Region: s.Region, HTTPClient: s.HTTPClient(), Credentials: s.AdminCredentials(),
		BaseEndpoint: aws.String(s.STSURL)})
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = session
		o.Duration = time.Hour
	}))
}

// FlushAudit writes the audit records buffered so far to the log file;
// in containers mode each container keeps its own log in its volume.
func (s *Stack) FlushAudit() error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Flush()
}

// IAM is the running identity service.
func (s *Stack) IAM() *iam.Service { return s.iam }

// Close stops the listeners (waiting for in-flight requests until ctx ends),
// closes the ingest and removes a temporary data directory.
func (s *Stack) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.ingestMu.Lock()
		s.ingestClosed = true
		if s.ingest != nil {
			// End streaming sessions first so Shutdown does not wait on them.
			err = s.ingest.Close()
		}
		s.ingestMu.Unlock()
		for _, srv := range s.servers {
			if e := srv.Shutdown(ctx); e != nil {
				_ = srv.Close()
			}
		}
		if s.kmsHTTP != nil {
			s.kmsHTTP.CloseIdleConnections()
		}
		if s.kms != nil {
			err = errors.Join(err, s.kms.Close())
		}
		if s.iam != nil {
			err = errors.Join(err, s.iam.Close())
		}
		if s.audit != nil {
			err = errors.Join(err, s.audit.Close())
		}
		if s.cs != nil && s.cs.session != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err = errors.Join(err, s.cs.session.Close(cctx))
			cancel()
		}
		if s.tempDir != "" {
			err = errors.Join(err, os.RemoveAll(s.tempDir))
		}
	})
	return err
}

func containsHost(hosts []string, h string) bool {
	for _, x := range hosts {
		if x == h {
			return true
		}
	}
	return false
}

// dialable turns a bound address into one a client can dial: an unspecified
// host (0.0.0.0, ::) becomes loopback.
func dialable(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// defaultAccount is the account id in every ARN the stack makes, for the
// ingest and its KMS alike.
const defaultAccount = "123456789012"

func regionOr(r string) string {
	if r == "" {
		return "us-east-1"
	}
	return r
}

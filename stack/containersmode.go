package stack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/camstorm/camstorm/stack/containers"
	"github.com/camstorm/camstorm/stack/pki"
)

// Containers mode: the identity service, the KMS and the ingest each in a
// container of camstorm's own image (FROM scratch, see stack/containers),
// on a user-defined network where the ingest reaches the KMS as "kms".
// They share the CA's and the identity state's volumes; each keeps its
// data in a volume of its own, so a container can be killed and started
// again with its data. Every port is published on 127.0.0.1 only.

// Container ports of the roles; the host ports are picked free up front.
const (
	portMetrics  = 8080
	portIdentity = 8443
	portIoT      = 8444
	portKMS      = 7443
	portControl  = 9443
	portData     = 9444
)

// Container is the container of a role (RoleIdentity, RoleKMS,
// RoleIngest) in containers mode, for tests that stop, kill or disconnect
// it; nil in embedded mode.
func (s *Stack) Container(role string) *containers.Container {
	if s.cs == nil {
		return nil
	}
	return map[string]*containers.Container{RoleIdentity: s.cs.identity, RoleKMS: s.cs.kms, RoleIngest: s.cs.ingest}[role]
}

// ContainersOptions tune StartContainers.
type ContainersOptions struct {
	// Image options choose the camstorm binary in the image (by default
	// the one built from this module's source).
	Image containers.ImageOptions
	// Logf receives progress lines (build, start, stop); nil discards.
	Logf func(format string, args ...any)
}

// containerStack is what a Stack in containers mode holds.
type containerStack struct {
	session  *containers.Session
	network  *containers.Network
	identity *containers.Container
	kms      *containers.Container
	ingest   *containers.Container
	// kmsCut is whether SetKMSReachable disconnected the KMS; reconnecting
	// a connected container is a Docker error.
	kmsMu  sync.Mutex
	kmsCut bool
}

// StartContainers starts the stack as containers and returns once all
// three answer their health checks. Of o, Hosts, ClockControl and
// Ingest.DataKeyMaxAge apply. Close removes every container,
// volume and network it made. It fails with one sentence when no Docker
// engine is reachable (containers.Available).
func StartContainers(ctx context.Context, o Options, co ContainersOptions) (*Stack, error) {
	if len(o.Defects) > 0 {
		return nil, errors.New("stack: deliberate defects (Options.Defects) apply to the embedded stack only; start it with StartEmbedded or stacktest.Start")
	}
	logf := co.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := containers.Available(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	stopLog := logWhileWaiting(logf, "stack: preparing the image (camstorm and the image are built the first time)", 10*time.Second)
	image, err := containers.Image(ctx, co.Image)
	stopLog()
	if err != nil {
		return nil, err
	}
	logf("stack: image %s ready in %s", image, time.Since(t0).Round(time.Millisecond))
	sess, err := containers.NewSession(ctx, containers.SessionOptions{})
	if err != nil {
		return nil, err
	}
	s := &Stack{errs: make(chan error, 1), logf: logf, cs: &containerStack{session: sess}}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close(context.Background())
		}
	}()
	if s.tempDir, err = os.MkdirTemp("", "camstorm-containers-*"); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if s.cs.network, err = sess.NewNetwork(ctx); err != nil {
		return nil, err
	}
	hosts := []string{"--host", "identity", "--host", "kms", "--host", "ingest"}
	if o.ClockControl {
		hosts = append(hosts, "--clock-control")
	}
	for _, h := range o.Hosts {
		hosts = append(hosts, "--host", h)
	}
	shared := map[string]string{"pki": "/pki", "iam": "/iam"}
	start := func(role string, vol string, ports []containers.PortSpec, args ...string) (*containers.Container, error) {
		volumes := map[string]string{vol: "/data"}
		for k, v := range shared {
			volumes[k] = v
		}
		cmd := append([]string{"stack", "up", "--role", role, "--data", "/data", "--pki-dir", "/pki", "--identity-dir", "/iam",
			"--metrics-listen", "0.0.0.0:" + strconv.Itoa(portMetrics)}, hosts...)
		cmd = append(cmd, args...)
		c, err := sess.Start(ctx, containers.Spec{Name: role, Image: image, Cmd: cmd, Volumes: volumes,
			Network: s.cs.network, Aliases: []string{role}, Ports: append(ports, containers.PortSpec{ContainerPort: portMetrics}),
			HealthPort: portMetrics, HealthPath: "/healthz", StartupTimeout: time.Minute})
		if err != nil {
			return nil, fmt.Errorf("stack: starting the %s container: %w", role, err)
		}
		logf("stack: %s container healthy after %s", role, time.Since(t0).Round(time.Millisecond))
		return c, nil
	}
	// Host ports are picked before the containers start, so the public
	// URLs the identity service and the ingest give out are known.
	iot, err := containers.FreeLoopbackPort()
	if err != nil {
		return nil, err
	}
	data, err := containers.FreeLoopbackPort()
	if err != nil {
		return nil, err
	}
	listen := func(p int) string { return "0.0.0.0:" + strconv.Itoa(p) }
	if s.cs.identity, err = start(RoleIdentity, "identity-data",
		[]containers.PortSpec{{ContainerPort: portIdentity, TLS: true}, {ContainerPort: portIoT, HostPort: iot, TLS: true}},
		"--identity-listen", listen(portIdentity), "--iot-listen", listen(portIoT),
		"--public-iot-url", "https://127.0.0.1:"+strconv.Itoa(iot)); err != nil {
		return nil, err
	}
	if s.cs.kms, err = start(RoleKMS, "kms-data", []containers.PortSpec{{ContainerPort: portKMS, TLS: true}},
		"--kms-listen", listen(portKMS)); err != nil {
		return nil, err
	}
	ingestArgs := []string{"--listen", listen(portControl), "--data-listen", listen(portData),
		"--kms-url", "https://kms:" + strconv.Itoa(portKMS), "--public-data-url", "https://127.0.0.1:" + strconv.Itoa(data)}
	if d := o.Ingest.DataKeyMaxAge; d > 0 {
		ingestArgs = append(ingestArgs, "--data-key-max-age", d.String())
	}
	if s.cs.ingest, err = start(RoleIngest, "ingest-data",
		[]containers.PortSpec{{ContainerPort: portControl, TLS: true}, {ContainerPort: portData, HostPort: data, TLS: true}},
		ingestArgs...); err != nil {
		return nil, err
	}

	ep, err := endpointsOf(ctx, s.cs.identity)
	if err != nil {
		return nil, err
	}
	caPEM, err := s.cs.identity.ReadFile(ctx, "/pki/"+pki.CACertFile)
	if err != nil {
		return nil, fmt.Errorf("stack: reading the CA from the identity container: %w", err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, errors.New("stack: the identity container's CA file holds no PEM certificate")
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("stack: the identity container's CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.tempDir, pki.CACertFile), caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s.ca = &pki.CA{Dir: s.tempDir, Cert: caCert}
	s.Endpoints = Endpoints{
		ControlPlaneURL: s.cs.ingest.URL(portControl), DataPlaneURL: s.cs.ingest.URL(portData),
		KMSURL: s.cs.kms.URL(portKMS), MetricsURL: s.cs.ingest.URL(portMetrics) + "/metrics",
		CACertFile: s.ca.CACertPath(), Region: ep.Region, DataDir: "",
		STSURL: s.cs.identity.URL(portIdentity), EnrollURL: s.cs.identity.URL(portIdentity) + "/enroll",
		EnrollmentToken: ep.EnrollmentToken, IoTCredentialsURL: s.cs.identity.URL(portIoT),
		CameraRoleAlias: ep.CameraRoleAlias, ConsumerRoleARN: ep.ConsumerRoleARN, AdminRoleARN: ep.AdminRoleARN,
		AdminAccessKeyID: ep.AdminAccessKeyID, AdminSecretAccessKey: ep.AdminSecretAccessKey,
	}
	logf("stack: containers stack up in %s", time.Since(t0).Round(time.Millisecond))
	ok = true
	return s, nil
}

// endpointsOf reads the JSON line `stack up` printed in a container.
func endpointsOf(ctx context.Context, c *containers.Container) (Endpoints, error) {
	logs, err := c.Logs(ctx)
	if err != nil {
		return Endpoints{}, fmt.Errorf("stack: reading the %s container's output: %w", c.Name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if i := bytes.IndexByte(line, '{'); i >= 0 {
			var ep Endpoints
			if json.Unmarshal(line[i:], &ep) == nil && ep.AdminAccessKeyID != "" {
				return ep, nil
			}
		}
	}
	return Endpoints{}, fmt.Errorf("stack: the %s container printed no endpoints", c.Name)
}

// AuditLogs returns the audit log of every process of the stack, by
// service: one log in this process (embedded; flushed first), or the log
// in each container's volume (containers mode; records reach the file
// within the log's flush interval).
func (s *Stack) AuditLogs(ctx context.Context) (map[string][]byte, error) {
	if s.cs == nil {
		if err := s.FlushAudit(); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(s.AuditLog)
		if err != nil {
			return nil, fmt.Errorf("stack: reading the audit log: %w", err)
		}
		return map[string][]byte{RoleAll: b}, nil
	}
	logs := map[string][]byte{}
	for _, c := range []*containers.Container{s.cs.identity, s.cs.kms, s.cs.ingest} {
		b, err := c.ReadFile(ctx, "/data/audit/audit.log")
		if err != nil {
			return nil, fmt.Errorf("stack: reading the %s container's audit log: %w", c.Name, err)
		}
		logs[c.Name] = b
	}
	return logs, nil
}

// StoredFiles returns every file the stack keeps, by path: the data
// directory in embedded mode; in containers mode each container's data
// volume (under its role's name) and the shared pki and iam volumes. For
// tests that look at what is at rest.
func (s *Stack) StoredFiles(ctx context.Context) (map[string][]byte, error) {
	files := map[string][]byte{}
	if s.cs == nil {
		err := filepath.WalkDir(s.DataDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			switch {
			case err == nil:
				files[p] = b
			case errors.Is(err, fs.ErrNotExist):
				err = nil // a temporary file renamed away since the listing
			}
			return err
		})
		return files, err
	}
	for _, read := range []struct {
		c       *containers.Container
		dir, as string
	}{{s.cs.ingest, "/data", "ingest"}, {s.cs.kms, "/data", "kms"}, {s.cs.identity, "/data", "identity"},
		{s.cs.identity, "/pki", "pki"}, {s.cs.identity, "/iam", "iam"}} {
		got, err := read.c.ReadDir(ctx, read.dir)
		if err != nil {
			return nil, err
		}
		for p, b := range got {
			files[read.as+"/"+p] = b
		}
	}
	return files, nil
}

// RestartContainers stops the stack's containers (SIGTERM, then up to 10 s
// grace) and starts them again on their volumes, as after a host reboot;
// ports and endpoints stay the same. Containers mode only.
func (s *Stack) RestartContainers(ctx context.Context) error {
	if s.cs == nil {
		return errors.New("stack: RestartContainers needs a stack in containers mode")
	}
	for _, c := range []*containers.Container{s.cs.ingest, s.cs.kms, s.cs.identity} {
		if err := c.Stop(ctx, 10*time.Second); err != nil {
			return err
		}
	}
	for _, role := range []string{RoleIdentity, RoleKMS, RoleIngest} {
		if err := s.Container(role).Start(ctx); err != nil { // returns once healthy again
			return err
		}
	}
	return nil
}

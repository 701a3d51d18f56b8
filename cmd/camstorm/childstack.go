package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camstorm/camstorm/bench"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/stack"
)

// childStack starts `camstorm stack up` as a child process for each
// measurement, on a fresh temporary data directory under parent (the
// system temp dir if empty), and stops it with SIGTERM. With profileDir
// set, each child writes stack-N.pprof there.
func childStack(parent, profileDir string) bench.StackProvider {
	var started atomic.Int64
	return func(ctx context.Context) (simulator.Target, func(), error) {
		exe, err := os.Executable()
		if err != nil {
			return simulator.Target{}, nil, err
		}
		dir, err := os.MkdirTemp(parent, "camstorm-bench-stack-*")
		if err != nil {
			return simulator.Target{}, nil, err
		}
		args := []string{"stack", "up", "--data", dir}
		if profileDir != "" {
			args = append(args, "--cpuprofile", filepath.Join(profileDir, fmt.Sprintf("stack-%d.pprof", started.Add(1))))
		}
		cmd := exec.Command(exe, args...)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			os.RemoveAll(dir)
			return simulator.Target{}, nil, err
		}
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return simulator.Target{}, nil, err
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			os.RemoveAll(dir)
		}
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		var ep stack.Endpoints
		if err == nil {
			err = json.Unmarshal(line, &ep)
		}
		if err != nil {
			stop()
			return simulator.Target{}, nil, fmt.Errorf("bench: the child stack printed no endpoints: %w", err)
		}
		pem, err := os.ReadFile(ep.CACertFile)
		if err != nil {
			stop()
			return simulator.Target{}, nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64}}
		return simulator.Target{ControlPlaneURL: ep.ControlPlaneURL, HTTP: hc, Region: ep.Region,
			Credentials: credentials.NewStaticCredentialsProvider(ep.AdminAccessKeyID, ep.AdminSecretAccessKey, "")}, func() { hc.CloseIdleConnections(); stop() }, nil
	}
}

package containers_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/camstorm/camstorm/stack/containers"
)

// Start the all-in-one reference stack in a container, its data on a named
// volume, its ports on loopback, and remove everything afterwards.
func Example() {
	ctx := context.Background()
	if err := containers.DisableReaper(); err != nil { // first, before any testcontainers call
		log.Fatal(err)
	}
	if err := containers.Available(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err) // "no Docker engine is reachable at …"
		return
	}
	ref, err := containers.Image(ctx, containers.ImageOptions{PreferExecutable: true})
	if err != nil {
		log.Fatal(err)
	}
	s, err := containers.NewSession(ctx, containers.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	c, err := s.Start(ctx, containers.Spec{
		Name:    "stack",
		Image:   ref,
		Cmd:     []string{"stack", "up", "--data", "/data", "--listen", "0.0.0.0:9443", "--metrics-listen", "0.0.0.0:8080"},
		Volumes: map[string]string{"data": "/data"},
		Ports:   []containers.PortSpec{{ContainerPort: 9443, TLS: true}, {ContainerPort: 8080}},
		// Healthy once GET /healthz on 8080 answers 200.
		HealthPort: 8080, HealthPath: "/healthz",
	})
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := c.ReadFile(ctx, "/data/pki/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("control plane:", c.URL(9443), "CA bytes:", len(caPEM))
}

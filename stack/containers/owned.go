package containers

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Owner is the LabelOwner value of a process on this host.
func Owner(pid int) string { return ownerOf(pid) }

// Owned lists the containers, networks and volumes of ours whose owner
// (LabelOwner) is owner, as "container NAME", "network NAME" and
// "volume NAME": for checks that a process left nothing behind. Nil when no
// Docker engine is reachable.
func Owned(ctx context.Context, owner string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if Available(ctx) != nil {
		return nil, nil
	}
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return listOurs(ctx, cli, func(labels map[string]string) bool { return labels[LabelOwner] == owner })
}

// listOurs lists our containers, networks and volumes whose labels match.
func listOurs(ctx context.Context, cli *testcontainers.DockerClient, match func(map[string]string) bool) ([]string, error) {
	f := make(client.Filters).Add("label", LabelStack+"=1")
	var found []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("containers: listing containers: %w", err)
	}
	for _, c := range cs.Items {
		if match(c.Labels) {
			found = append(found, "container "+containerName(c.Names, c.ID))
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("containers: listing networks: %w", err)
	}
	for _, n := range ns.Items {
		if match(n.Labels) {
			found = append(found, "network "+n.Name)
		}
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("containers: listing volumes: %w", err)
	}
	for _, v := range vs.Items {
		if match(v.Labels) {
			found = append(found, "volume "+v.Name)
		}
	}
	return found, nil
}

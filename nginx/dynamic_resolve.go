// This file holds how the reload-free backend finds the address of a
// server's container when nginx runs in a container: from the Docker
// engine, as nginx's embedded DNS would answer (a running container on one
// of nginx's user-defined networks, by name or alias). The Lua balancer
// connects to addresses, never names, so a replaced container (a new
// address) is reached because Restore asks again.

package nginx

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// EngineResolver resolves hosts for nginx in container nginxContainer:
// the address, on a network they share, of the running container that has
// the host as its name or network alias; the host's resolver for other
// names.
func EngineResolver(cli client.APIClient, nginxContainer string) AddrResolver {
	return func(ctx context.Context, host string) (string, error) {
		want := strings.ToLower(strings.TrimSuffix(host, "."))
		ins, err := cli.ContainerInspect(ctx, nginxContainer)
		if err != nil {
			return "", fmt.Errorf("resolving %q for nginx container %q: %w", host, nginxContainer, err)
		}
		var nets []string
		if ins.NetworkSettings != nil {
			for n := range ins.NetworkSettings.Networks {
				if n != "bridge" && n != "host" && n != "none" {
					nets = append(nets, n)
				}
			}
		}
		sort.Strings(nets)
		for _, n := range nets {
			list, err := cli.ContainerList(ctx, container.ListOptions{
				Filters: filters.NewArgs(filters.Arg("network", n), filters.Arg("status", "running")),
			})
			if err != nil {
				return "", fmt.Errorf("resolving %q: listing containers on network %q: %w", host, n, err)
			}
			for _, c := range list {
				ci, err := cli.ContainerInspect(ctx, c.ID)
				if err != nil || ci.State == nil || !ci.State.Running || ci.NetworkSettings == nil {
					continue
				}
				ep := ci.NetworkSettings.Networks[n]
				if ep == nil || ep.IPAddress == "" {
					continue
				}
				if strings.EqualFold(strings.TrimPrefix(ci.Name, "/"), want) || hasName(ep.Aliases, ep.DNSNames, want) {
					return ep.IPAddress, nil
				}
			}
		}
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err == nil && len(ips) > 0 {
			return ips[0], nil
		}
		return "", fmt.Errorf("host %q: no running container on the networks of nginx container %q (%s) has that name or alias, and the host's resolver does not know it",
			host, nginxContainer, strings.Join(nets, ", "))
	}
}

// This file opens a plan's shared state: the nginx container named by
// `state = nginx.NAME`, through the engine that runs it
// (internal/targetstate).
package runner

import (
	"context"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/targetstate"
	"github.com/nonstop-deploy/nonstop/steps"
)

// openShared connects to the engine of st's nginx and returns its state,
// with the function that closes the connection.
func openShared(ctx context.Context, st *dsl.State) (executor.SharedState, func(), error) {
	cli, err := dockerx.ConnectEndpoint(ctx, steps.EngineRefOf(st.Nginx.Docker).Endpoint)
	if err != nil {
		return nil, nil, err
	}
	return targetstate.New(cli, st.Nginx.Container.Value, st.Path.Value), func() { _ = cli.Close() }, nil
}

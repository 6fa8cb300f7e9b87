// This file holds what the shared state warns about: a state folder in
// the container's own layer, which is lost with the container.
package targetstate

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// Warnings says what the user should know before trusting the place: the
// state folder (and the target locks beside it) is lost when the nginx
// container is replaced (`docker compose up` with a new image, a
// recreated service) unless a mount holds it. An error reading the
// container is no warning: Lock reports it.
func (s *Store) Warnings(ctx context.Context) []string {
	c, err := s.cli.ContainerInspect(ctx, s.container)
	if err != nil {
		return nil
	}
	for _, m := range c.Mounts {
		d := path.Clean(m.Destination)
		if d == "/" || s.dir == d || strings.HasPrefix(s.dir, d+"/") {
			return nil
		}
	}
	root := path.Dir(s.dir)
	return []string{fmt.Sprintf("the plan's state in %s is in the container's own files, not on a mount: it is lost, with the record of an unfinished apply, when the container is replaced. Mount a volume at %s (docker run -v nonstop-state:%s, or a compose volume)", s, root, root)}
}

// This file holds the credentials for a registry, as the docker CLI finds
// them (config.json's auths, credsStore, credHelpers, in DOCKER_CONFIG or
// ~/.docker), and CheckPull: whether a registry will serve an image with
// them, asked before anything changes.
package dockerx

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// dockerHubKey is the key under which the docker CLI stores Docker Hub's
// credentials in config.json (a legacy URL, not a host name).
const dockerHubKey = "https://index.docker.io/v1/"

// Credentials are what the docker CLI would send to the registry of one
// image.
type Credentials struct {
	// Registry is the registry's host[:port] ("docker.io" for Docker Hub).
	Registry string
	// Encoded is the X-Registry-Auth value for the engine; "" pulls
	// anonymously.
	Encoded string
	// From says where they came from, for messages: "auths in FILE",
	// "credsStore NAME", "credHelpers NAME", "no login for REGISTRY in FILE".
	From string
}

// RegistryCredentials finds the credentials the docker CLI would use to
// pull ref: config.json in DOCKER_CONFIG (else ~/.docker), its credHelpers
// entry for the registry, else its credsStore, else its auths.
func RegistryCredentials(ref string) (Credentials, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return Credentials{}, fmt.Errorf("image %s: not an image reference: %w", ref, err)
	}
	c := Credentials{Registry: reference.Domain(named)}
	key := c.Registry
	if key == "docker.io" {
		key = dockerHubKey
	}
	cfg, err := loadConfig()
	if err != nil {
		return c, err
	}
	switch {
	case cfg.CredentialHelpers[key] != "":
		c.From = "credHelpers " + cfg.CredentialHelpers[key]
	case cfg.CredentialsStore != "":
		c.From = "credsStore " + cfg.CredentialsStore
	default:
		c.From = "auths in " + cfg.Filename
	}
	ac, err := cfg.GetAuthConfig(key)
	if err != nil {
		return c, fmt.Errorf("image %s: cannot read the credentials for registry %s (%s): %w", ref, c.Registry, c.From, err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		c.From = "no login for " + c.Registry + " in " + cfg.Filename
		return c, nil
	}
	c.Encoded, err = registry.EncodeAuthConfig(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, ServerAddress: key,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
	if err != nil {
		return c, fmt.Errorf("image %s: encoding the credentials for registry %s: %w", ref, c.Registry, err)
	}
	return c, nil
}

// CheckPull asks the registry, through the engine (which reaches it as a
// pull would, with its mirrors and insecure-registry settings), whether it
// will serve ref with the docker CLI's credentials, without downloading
// anything. It returns the digest the registry serves for ref. Its error
// names the registry and where the credentials came from.
func CheckPull(ctx context.Context, cli client.APIClient, ref string) (string, error) {
	c, err := RegistryCredentials(ref)
	if err != nil {
		return "", err
	}
	d, err := cli.DistributionInspect(ctx, ref, c.Encoded)
	if err != nil {
		return "", fmt.Errorf("image %s cannot be pulled: registry %s refused it with the credentials the docker CLI has for it (%s): %w. Log in with `docker login %s` (DOCKER_CONFIG selects the config folder), or check the image name",
			ref, c.Registry, c.From, err, c.Registry)
	}
	return string(d.Descriptor.Digest), nil
}

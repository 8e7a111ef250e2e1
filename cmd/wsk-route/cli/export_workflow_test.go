package cli

// Config is the resolved configuration, for the black-box tests.
type Config = wskConfig

// ResolveConfig resolves the global flags as the commands do, with getenv
// for the environment, and reports the error a command needing the API
// would report (nil when the API settings are complete).
func ResolveConfig(apiHost, auth, namespace, consul string, getenv func(string) string) (Config, error) {
	c := resolveConfig(globalFlags{apiHost: apiHost, auth: auth, namespace: namespace, consul: consul}, getenv)
	return c, c.check()
}

package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"
)

// globalFlags are the flags every workflow command shares, as wsk has them.
type globalFlags struct {
	apiHost, auth, namespace, output, consul string
	insecure                                 bool
}

func (g *globalFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&g.apiHost, "apihost", "", "OpenWhisk API `host` (default: APIHOST of WSK_CONFIG_FILE or ~/.wskprops)")
	fl.StringVarP(&g.auth, "auth", "u", "", "authorization `key` uuid:key (default: AUTH of WSK_CONFIG_FILE or ~/.wskprops)")
	fl.StringVar(&g.namespace, "namespace", "", "OpenWhisk `namespace` (default: NAMESPACE of WSK_CONFIG_FILE or ~/.wskprops, else the key's)")
	fl.BoolVarP(&g.insecure, "insecure", "i", false, "skip the API host's TLS certificate check")
	fl.StringVarP(&g.output, "output", "o", "text", "output `format`: text or json")
	fl.StringVar(&g.consul, "consul", "", "a real Consul's HTTP `address` holding the specs and routes of your wsk-route agents (default: $CONSUL_HTTP_ADDR; none: the API host's wsk-route store, as `wsk-route dev` serves it)")
}

// wskConfig is where and as whom the commands talk to OpenWhisk, resolved
// as wsk resolves it: a flag wins over the properties file.
type wskConfig struct {
	// APIHost is the API host with its scheme ("https://" when the
	// setting had none); "" when none is known.
	APIHost string
	// Auth is "uuid:key"; "" when none is known.
	Auth string
	// Namespace is the namespace to work in; "_" means the key's own.
	Namespace string
	// APIVersion is "v1" unless the properties file says otherwise.
	APIVersion string
	// Insecure skips TLS verification.
	Insecure bool
	// Consul is the Consul address for specs and routes; "" for the API.
	Consul string
	// Props is the properties file that was read ("" when none was).
	Props string
	// PropsPath is the properties file looked for: WSK_CONFIG_FILE, else
	// ~/.wskprops; PropsEnv reports that WSK_CONFIG_FILE named it, and
	// PropsErr is why it was not read (nil when it was).
	PropsPath string
	PropsEnv  bool
	PropsErr  error
}

// propsPath is the properties file wsk reads: WSK_CONFIG_FILE, else
// $HOME/.wskprops.
func propsPath(getenv func(string) string) string {
	if p := getenv("WSK_CONFIG_FILE"); p != "" {
		return p
	}
	return filepath.Join(getenv("HOME"), ".wskprops")
}

// resolveConfig applies the flags over the properties file and the
// environment. A missing or unreadable properties file is no error (wsk
// ignores it too); missing values are reported when a command needs them.
func resolveConfig(g globalFlags, getenv func(string) string) wskConfig {
	c := wskConfig{Namespace: "_", APIVersion: "v1", Insecure: g.insecure}
	path := propsPath(getenv)
	c.PropsPath, c.PropsEnv = path, getenv("WSK_CONFIG_FILE") != ""
	if _, err := os.Stat(path); err != nil {
		c.PropsErr = err
	} else if props, err := whisk.ReadProps(path); err != nil {
		c.PropsErr = err
	} else {
		c.Props = path
		c.APIHost = props["APIHOST"]
		c.Auth = props["AUTH"]
		if v := props["NAMESPACE"]; v != "" {
			c.Namespace = v
		}
		if v := props["APIVERSION"]; v != "" {
			c.APIVersion = v
		}
	}
	if g.apiHost != "" {
		c.APIHost = g.apiHost
	}
	if g.auth != "" {
		c.Auth = g.auth
	}
	if g.namespace != "" {
		c.Namespace = g.namespace
	}
	c.APIHost = withScheme(c.APIHost)
	c.Consul = g.consul
	if c.Consul == "" {
		c.Consul = getenv("CONSUL_HTTP_ADDR")
	}
	return c
}

// withScheme adds "https://" to a host that has no scheme, as wsk does.
func withScheme(host string) string {
	if host == "" {
		return ""
	}
	if u, err := url.Parse(host); err == nil && u.Scheme != "" && u.Host != "" {
		return strings.TrimSuffix(host, "/")
	}
	return "https://" + strings.TrimSuffix(host, "/")
}

// check reports the first setting the API needs that is missing.
func (c wskConfig) check() error {
	where := c.propsWhere()
	switch {
	case c.APIHost == "":
		return fmt.Errorf("no API host: set --apihost or APIHOST in %s (wsk property set --apihost ...)", where)
	case c.Auth == "":
		return fmt.Errorf("no auth key: set --auth or AUTH in %s (wsk property set --auth ...)", where)
	case !strings.Contains(c.Auth, ":"):
		return fmt.Errorf("auth key %q is not uuid:key", redact(c.Auth))
	}
	if _, err := url.Parse(c.APIHost); err != nil {
		return fmt.Errorf("API host %q: %w", c.APIHost, err)
	}
	return nil
}

// propsWhere names the properties file for messages: the file that was
// read, or the one looked for and why it was not read.
func (c wskConfig) propsWhere() string {
	switch {
	case c.Props != "":
		return c.Props
	case c.PropsPath == "":
		return "~/.wskprops"
	}
	how := ""
	if c.PropsEnv {
		how = "named by WSK_CONFIG_FILE, "
	}
	switch {
	case errors.Is(c.PropsErr, fs.ErrNotExist):
		return fmt.Sprintf("%s (%swhich does not exist)", c.PropsPath, how)
	case c.PropsErr != nil:
		return fmt.Sprintf("%s (%swhich cannot be read: %v)", c.PropsPath, how, c.PropsErr)
	}
	return c.PropsPath
}

func redact(key string) string {
	if len(key) > 8 {
		return key[:8] + "..."
	}
	return key
}

// api is one OpenWhisk API host as the commands use it: openwhisk-client-go
// for actions and activations, plain requests for the rest.
type api struct {
	cfg  wskConfig
	hc   *http.Client
	wsk  *whisk.Client
	ns   string // the resolved namespace (never "_"), set by newAPI
	base string // cfg.APIHost + "/api/" + cfg.APIVersion
}

// newAPI checks cfg, builds the clients, and resolves the namespace "_" to
// the key's own (GET /api/v1/namespaces), which also proves the host and
// the key work.
func newAPI(ctx context.Context, cfg wskConfig, timeout time.Duration) (*api, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	hc := &http.Client{Timeout: timeout, Transport: tr}
	a := &api{cfg: cfg, hc: hc, base: cfg.APIHost + "/api/" + cfg.APIVersion}
	base, err := url.Parse(cfg.APIHost + "/api")
	if err != nil {
		return nil, fmt.Errorf("API host %q: %w", cfg.APIHost, err)
	}
	// A second http.Client: openwhisk-client-go replaces its transport
	// when Insecure is set.
	wc, err := whisk.NewClient(&http.Client{Timeout: timeout}, &whisk.Config{
		Host: cfg.APIHost, BaseURL: base, AuthToken: cfg.Auth, Namespace: "_",
		Version: cfg.APIVersion, Insecure: cfg.Insecure,
	})
	if err != nil {
		return nil, fmt.Errorf("OpenWhisk client for %s: %w", cfg.APIHost, err)
	}
	a.wsk = wc
	if cfg.Namespace != "" && cfg.Namespace != "_" {
		a.ns = cfg.Namespace
		wc.Config.Namespace = cfg.Namespace
		return a, nil
	}
	var names []string
	status, err := a.do(ctx, http.MethodGet, "/namespaces", nil, &names)
	if err != nil {
		return nil, fmt.Errorf("finding the key's namespace: %w", err)
	}
	if status != http.StatusOK || len(names) == 0 {
		return nil, fmt.Errorf("finding the key's namespace: GET %s/namespaces answered %d with no namespace", a.base, status)
	}
	a.ns = names[0]
	wc.Config.Namespace = a.ns
	return a, nil
}

// apiError is an error answer of the API: its status and message.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("the API answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("the API answered %d: %s", e.Status, e.Msg)
}

// do sends a request to base+path with the key and decodes a 2xx answer
// into out (when not nil). A non-2xx answer is an *apiError; the status is
// returned either way.
func (a *api) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	status, b, err := a.doRaw(ctx, method, path, body)
	if err != nil {
		return status, err
	}
	if status/100 != 2 {
		return status, errorAnswer(status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return status, fmt.Errorf("%s %s: decoding the answer: %w", method, a.base+path, err)
		}
	}
	return status, nil
}

// unreachableError is a request that nothing answered at the API host
// (connection refused): the host is down, or the sandbox is not running.
type unreachableError struct {
	cfg wskConfig
	err error // the *url.Error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("nothing answers at %s (connection refused): start the sandbox with 'wsk-route dev --write-wskprops' in another terminal, or point --apihost (APIHOST in %s) at your OpenWhisk: %v",
		e.cfg.APIHost, e.cfg.propsWhere(), e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// errorAnswer is the *apiError of a non-2xx answer with body b.
func errorAnswer(status int, b []byte) *apiError {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return &apiError{Status: status, Msg: e.Error}
}

// doRaw sends a request to base+path with the key and returns the
// answer's status and body, whatever the status.
func (a *api) doRaw(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	user, pass, _ := strings.Cut(a.cfg.Auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return 0, nil, &unreachableError{cfg: a.cfg, err: err}
		}
		return 0, nil, err // a *url.Error: it names the method and the URL
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: reading the answer: %w", method, a.base+path, err)
	}
	return resp.StatusCode, b, nil
}

// actionPath is the API path of a fully qualified action name.
func actionPath(fqn string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(fqn, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("action %q is not /namespace/[package/]name", fqn)
	}
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = url.PathEscape(p)
	}
	return "/namespaces/" + esc[0] + "/actions/" + strings.Join(esc[1:], "/"), nil
}

// getAction fetches an action by its fully qualified name, without its
// code; nil when it does not exist.
func (a *api) getAction(ctx context.Context, fqn string) (*whisk.Action, error) {
	return a.fetchAction(ctx, fqn, false)
}

// getActionCode fetches an action with its code; nil when it does not
// exist.
func (a *api) getActionCode(ctx context.Context, fqn string) (*whisk.Action, error) {
	return a.fetchAction(ctx, fqn, true)
}

func (a *api) fetchAction(ctx context.Context, fqn string, code bool) (*whisk.Action, error) {
	p, err := actionPath(fqn)
	if err != nil {
		return nil, err
	}
	var act whisk.Action
	_, err = a.do(ctx, http.MethodGet, p+"?code="+strconv.FormatBool(code), nil, &act)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting action %s: %w", fqn, err)
	}
	return &act, nil
}

// fqn is the fully qualified name of name in the API's namespace.
func (a *api) fqn(name string) string { return "/" + a.ns + "/" + name }

// getenv is the environment the commands read.
func getenv(k string) string { return os.Getenv(k) }

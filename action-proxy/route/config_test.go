package route

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	withSocket := t.TempDir()
	if err := os.WriteFile(filepath.Join(withSocket, "agent.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name    string
		environ []string
		ok      bool
		want    Config
	}{
		{"run dir without agent socket", []string{EnvRunDir + "=" + empty}, false, Config{}},
		{"run dir with agent socket", []string{EnvRunDir + "=" + withSocket}, true,
			Config{AgentSocket: filepath.Join(withSocket, "agent.sock"), RunDir: withSocket}},
		{"agent set", []string{
			"PATH=/bin", EnvAgent + "=/nowhere/agent.sock", EnvRunDir + "=/run/x", EnvName + "=p1",
			EnvTCPListen + "=0.0.0.0:7000", EnvTCPAdvertise + "=tcp:10.0.0.1:7000", EnvEntryJoins + "=1",
		}, true, Config{AgentSocket: "/nowhere/agent.sock", RunDir: "/run/x", Name: "p1",
			TCPListen: "0.0.0.0:7000", TCPAdvertise: "tcp:10.0.0.1:7000", EntryJoins: true}},
		{"entry joins only with 1", []string{EnvAgent + "=/a/agent.sock", EnvEntryJoins + "=yes"}, true, Config{AgentSocket: "/a/agent.sock"}},
		{"last duplicate wins", []string{
			EnvAgent + "=/a/agent.sock", EnvName + "=first", EnvAgent + "=/b/agent.sock", EnvName + "=second",
		}, true, Config{AgentSocket: "/b/agent.sock", Name: "second"}},
		{"value holds '='", []string{EnvAgent + "=/a=b/agent.sock"}, true, Config{AgentSocket: "/a=b/agent.sock"}},
		{"busy wait", []string{EnvAgent + "=/a/agent.sock", EnvBusyWait + "=100ms"}, true, Config{AgentSocket: "/a/agent.sock", BusyWait: 100 * time.Millisecond}},
		{"busy wait not a duration", []string{EnvAgent + "=/a/agent.sock", EnvBusyWait + "=100"}, true,
			Config{AgentSocket: "/a/agent.sock", Warnings: []string{`WSK_ROUTE_BUSY_WAIT="100" is not a duration such as 100ms; hops fall back at once`}}},
		{"busy wait too long", []string{EnvAgent + "=/a/agent.sock", EnvBusyWait + "=1m"}, true,
			Config{AgentSocket: "/a/agent.sock", Warnings: []string{"WSK_ROUTE_BUSY_WAIT=1m is more than 5s; hops fall back at once"}}},
		{"longer key is another variable", []string{EnvAgent + "X=/a/agent.sock", EnvRunDir + "=" + empty}, false, Config{}},
		{"empty last value unsets", []string{EnvAgent + "=/a/agent.sock", EnvAgent + "=", EnvRunDir + "=" + empty}, false, Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromEnv(tt.environ)
			if ok != tt.ok || envFields(got) != envFields(tt.want) {
				t.Errorf("FromEnv(%q) = %+v, %v; want %+v, %v", tt.environ, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// envFields are the Config fields FromEnv sets.
func envFields(c Config) [8]string {
	return [8]string{c.AgentSocket, c.RunDir, c.Name, c.TCPListen, c.TCPAdvertise, strconv.FormatBool(c.EntryJoins),
		c.BusyWait.String(), strings.Join(c.Warnings, "; ")}
}

func TestFromEnvDefaultSocket(t *testing.T) {
	_, statErr := os.Stat(filepath.Join(DefaultRunDir, "agent.sock"))
	cfg, ok := FromEnv([]string{"PATH=/bin"})
	if statErr == nil {
		if !ok || cfg.AgentSocket != filepath.Join(DefaultRunDir, "agent.sock") {
			t.Errorf("default socket exists: FromEnv = %+v, %v; want it used", cfg, ok)
		}
		return
	}
	if ok {
		t.Errorf("no agent configured and no %s/agent.sock: FromEnv = %+v, true; want false", DefaultRunDir, cfg)
	}
}

func TestConfigWithDefaults(t *testing.T) {
	if _, err := (Config{}).withDefaults(); err == nil {
		t.Error("withDefaults without an agent socket: no error")
	}
	host, _ := os.Hostname()
	got, err := Config{AgentSocket: "/run/wsk-route/agent.sock", Concurrency: -1, AckTimeout: -1, MaxTries: -1, LogLimit: -1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.RunDir != "/run/wsk-route" || got.Name != host+"-"+strconv.Itoa(os.Getpid()) ||
		got.Concurrency != 1 || got.AckTimeout != 500*time.Millisecond || got.MaxTries != 8 ||
		got.LogLimit != 1<<20 || got.Logger == nil || got.Now == nil {
		t.Errorf("defaults: got %+v", got)
	}
	got.Logger.Error("discarded") // must not panic or print

	now := func() time.Time { return time.Unix(42, 0) }
	set := Config{AgentSocket: "/a/agent.sock", RunDir: "/r", Name: "n", Concurrency: 4,
		AckTimeout: time.Second, MaxTries: 2, LogLimit: 10, Now: now}
	got, err = set.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.RunDir != "/r" || got.Name != "n" || got.Concurrency != 4 || got.AckTimeout != time.Second ||
		got.MaxTries != 2 || got.LogLimit != 10 || !got.Now().Equal(time.Unix(42, 0)) {
		t.Errorf("explicit values changed: got %+v", got)
	}
}

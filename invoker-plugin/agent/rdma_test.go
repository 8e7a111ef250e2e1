package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/transport/rdma"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// The RDMA relay needs an agent built with -tags rdma and an RDMA device;
// without either, New says which is missing instead of starting without
// it. (Built with the tag on a host with a device, New would succeed: no
// machine of ours has one.)
func TestRelayRDMAWithoutSupport(t *testing.T) {
	base := shortTempDir(t)
	_, err := agent.New(agent.Config{
		Host:      "rdma-host",
		RunDir:    base + "/run",
		ShmRoot:   base + "/shm",
		StateDir:  base + "/state",
		RelayRDMA: "127.0.0.1:7471",
		Registry:  newStore(t),
	})
	if err == nil {
		t.Skip("this host has an RDMA device and the agent was built with -tags rdma")
	}
	if !errors.Is(err, rdma.ErrNotBuilt) && !errors.Is(err, rdma.ErrNoDevice) {
		t.Fatalf("New with RelayRDMA: %v, want ErrNotBuilt or ErrNoDevice", err)
	}
	if !strings.Contains(err.Error(), "rdma relay") {
		t.Errorf("error %q does not say it is the rdma relay", err)
	}
}

func TestRelayRDMANeedsAConcreteAddress(t *testing.T) {
	base := shortTempDir(t)
	_, err := agent.New(agent.Config{
		Host:      "rdma-host",
		RunDir:    base + "/run",
		ShmRoot:   base + "/shm",
		StateDir:  base + "/state",
		RelayRDMA: "0.0.0.0:7471",
		Registry:  newStore(t),
	})
	if err == nil || !strings.Contains(err.Error(), "give the IP of the RDMA device") {
		t.Fatalf("New with an unspecified RDMA address: %v", err)
	}
}

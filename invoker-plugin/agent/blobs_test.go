package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/shm"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// Cgroups of the blob tests' fake containers: one of namespace ns1, one of
// ns2, and one that never registers.
const (
	cgNS1      = "/test.slice/blob-ns1.scope"
	cgNS2      = "/test.slice/blob-ns2.scope"
	cgStranger = "/test.slice/blob-stranger.scope"
)

// blobHost is an agent of the blob tests with a proxy of ns1 and one of
// ns2 registered (so both namespaces have a key and a shm directory).
type blobHost struct {
	*testAgent
	peers    *fakePeers
	ns1, ns2 *fakeProxy
}

// startBlobHost runs agent host on reg with its relay (and blob reads) on
// ip, and registers proxies p1 of ns1 and p2 of ns2.
func startBlobHost(t *testing.T, reg agent.Registry, host, ip string) *blobHost {
	t.Helper()
	peers := &fakePeers{}
	root := cgroupRoot(t, cgNS1, cgNS2, cgStranger)
	a := startAgent(t, host, reg, func(c *agent.Config) {
		c.RelayListen = ip + ":0"
		c.PeerOf = peers.peerOf
		c.CgroupRoot = root
	})
	h := &blobHost{testAgent: a, peers: peers}
	peers.set(cgNS1)
	h.ns1 = newProxy(t, a, "ns1", "p1")
	peers.set(cgNS2)
	h.ns2 = newProxy(t, a, "ns2", "p2")
	return h
}

// shmDir returns the agent's shm directory of namespace ns.
func (h *blobHost) shmDir(ns string) string {
	return filepath.Join(filepath.Dir(h.ns1.welcome.ShmDir), ns)
}

// relayAddr returns host:port of the agent's relay port.
func (h *blobHost) relayAddr(t *testing.T) string {
	t.Helper()
	ep := h.RelayEndpoint()
	addr, ok := strings.CutPrefix(ep, "tcp:")
	if !ok {
		t.Fatalf("relay endpoint %q", ep)
	}
	return addr
}

// blobFrame returns a blob step frame of namespace ns for segment seg of
// host, size bytes, signed with key, edited by edit before signing.
func blobFrame(t *testing.T, ns, host, seg string, size int, key []byte, edit func(*frame.Frame)) []byte {
	t.Helper()
	f := &frame.Frame{
		Kind: frame.KindStep, RunID: "run1", Workflow: "wf", SpecVersion: 1, Step: "b",
		Deadline: time.Now().Add(time.Minute).UnixNano(), ReplyTo: "x/entry", Namespace: ns,
		PayloadKind: frame.PayloadBlob, Ref: host + "/" + seg, Size: uint64(size),
	}
	if edit != nil {
		edit(f)
	}
	f.Sign(key)
	b, err := frame.Encode(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payloadOf returns n bytes of a recognisable pattern.
func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func writeSeg(t *testing.T, dir string, data []byte) string {
	t.Helper()
	name, err := shm.Write(dir, data, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestBlobRead: another agent's read of a segment is served only for a
// frame that names this host and a segment of its own namespace, verifies
// with that namespace's key and matches the segment's size; a served
// segment is removed.
func TestBlobRead(t *testing.T) {
	h := startBlobHost(t, registry.New(registry.Options{}), "hostA", "127.0.0.1")
	url := "http://" + h.relayAddr(t) + blob.ReadPath
	data := payloadOf(300 << 10)
	other := []byte("0123456789abcdef0123456789abcdef")

	for _, tc := range []struct {
		name   string
		body   func(seg string) []byte
		status int
		want   string // in the error text
	}{
		{"bad tag", func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), other, nil) }, 403, "bad tag"},
		{"key of another namespace", func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), h.ns2.key, nil) }, 403, "bad tag"},
		{"segment of another namespace", func(seg string) []byte { return blobFrame(t, "ns2", "hostA", seg, len(data), h.ns2.key, nil) }, 404, "gone"},
		{"namespace unknown here", func(seg string) []byte { return blobFrame(t, "ns9", "hostA", seg, len(data), other, nil) }, 403, "no shm directory"},
		{"traversal", func(seg string) []byte {
			return blobFrame(t, "ns2", "hostA", "../ns1/"+seg, len(data), h.ns2.key, nil)
		}, 400, "bad ref"},
		{"namespace traversal", func(seg string) []byte { return blobFrame(t, "..", "hostA", seg, len(data), other, nil) }, 400, "namespace"},
		{"size mismatch", func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data)+1, h.ns1.key, nil) }, 409, "size mismatch"},
		{"missing segment", func(string) []byte {
			return blobFrame(t, "ns1", "hostA", "1764590000000000000-0123456789abcdef.seg", len(data), h.ns1.key, nil)
		}, 404, "gone"},
		{"another host's blob", func(seg string) []byte { return blobFrame(t, "ns1", "hostB", seg, len(data), h.ns1.key, nil) }, 404, "not held by this host"},
		{"expired", func(seg string) []byte {
			return blobFrame(t, "ns1", "hostA", seg, len(data), h.ns1.key, func(f *frame.Frame) { f.Deadline = time.Now().Add(-time.Second).UnixNano() })
		}, 410, "deadline passed"},
		{"not a frame", func(string) []byte { return []byte("hello") }, 400, "request frame"},
		{"served", func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), h.ns1.key, nil) }, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := writeSeg(t, h.shmDir("ns1"), data)
			resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(tc.body(seg)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, tc.status)
			}
			path := filepath.Join(h.shmDir("ns1"), seg)
			if tc.status != 200 {
				if !strings.Contains(string(got), tc.want) || !strings.Contains(string(got), "hostA") {
					t.Errorf("error %q, want one naming hostA and %q", got, tc.want)
				}
				if !exists(path) {
					t.Errorf("a refused read removed the segment")
				}
				return
			}
			if !bytes.Equal(got, data) {
				t.Errorf("served %d bytes, not the segment's %d", len(got), len(data))
			}
			if exists(path) {
				t.Errorf("segment %s still there after it was served", seg)
			}
		})
	}
}

// fetch asks h's agent, as a container of cgroup cg, for the blob of body.
func (h *blobHost) fetch(t *testing.T, cg string, body []byte) (int, blob.FetchAnswer) {
	t.Helper()
	h.peers.set(cg)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.BlobSocketPath())
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Post("http://agent"+blob.FetchPath, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans blob.FetchAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatalf("answer: %v", err)
	}
	return resp.StatusCode, ans
}

// TestBlobFetchAcrossAgents: an agent pulls a blob of another host's agent
// for a container of the blob's namespace, into that namespace's shm
// directory; every failure names what failed, and where.
func TestBlobFetchAcrossAgents(t *testing.T) {
	reg := registry.New(registry.Options{})
	a := startBlobHost(t, reg, "hostA", "127.0.0.1")
	b := startBlobHost(t, reg, "hostB", "127.0.0.2")
	// An instance of a host whose agent is gone.
	dead := routetable.Instance{ID: "hostD/c1", Namespace: "ns1", Action: "/ns1/p1", Host: "hostD",
		Unix: "unix:/run/wsk-route/c1.sock", Relay: "tcp:127.0.0.1:1"}
	if err := reg.Register(context.Background(), dead, time.Minute); err != nil {
		t.Fatal(err)
	}
	b.ns1.waitFor("hostA and hostD in the table", func() bool {
		_, okA := b.ns1.table["hostA/p1"]
		_, okD := b.ns1.table["hostD/c1"]
		return okA && okD
	})
	data := payloadOf(1500 << 10)
	key := a.ns1.key

	for _, tc := range []struct {
		name   string
		cg     string
		body   func(seg string) []byte
		status int
		want   string
	}{
		{"caller of another namespace", cgNS2, func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), key, nil) }, 403, `bound to namespace "ns2"`},
		{"caller never registered", cgStranger, func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), key, nil) }, 403, "has not registered"},
		{"bad tag", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), b.ns2.key, nil) }, 403, "bad tag"},
		{"producing host unknown", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostC", seg, len(data), key, nil) }, 404, "producing host hostC is unknown"},
		{"producer unreachable", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostD", seg, len(data), key, nil) }, 502, "agent of host hostD at http://127.0.0.1:1/v1/blobs/read is unreachable"},
		{"segment gone", cgNS1, func(string) []byte {
			return blobFrame(t, "ns1", "hostA", "1764590000000000000-0123456789abcdef.seg", len(data), key, nil)
		}, 404, "host hostA: segment 1764590000000000000-0123456789abcdef.seg is gone"},
		{"size mismatch", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data)-1, key, nil) }, 409, "size mismatch"},
		{"own host", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostB", seg, len(data), key, nil) }, 400, "on this host"},
		{"fetched", cgNS1, func(seg string) []byte { return blobFrame(t, "ns1", "hostA", seg, len(data), key, nil) }, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := writeSeg(t, a.shmDir("ns1"), data)
			status, ans := b.fetch(t, tc.cg, tc.body(seg))
			if status != tc.status {
				t.Fatalf("status %d (%+v), want %d", status, ans, tc.status)
			}
			if tc.status != 200 {
				if !strings.Contains(ans.Error, tc.want) || ans.Segment != "" {
					t.Errorf("answer %+v, want an error with %q", ans, tc.want)
				}
				return
			}
			got, err := os.ReadFile(filepath.Join(b.shmDir("ns1"), ans.Segment))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetched segment %q: %d bytes, %v; want the %d bytes of the blob", ans.Segment, len(got), err, len(data))
			}
			if d, err := shm.Deadline(ans.Segment); err != nil || d.Before(time.Now().Add(50*time.Second)) {
				t.Errorf("fetched segment's deadline %v, %v; want the frame's, a minute from now", d, err)
			}
			if exists(filepath.Join(a.shmDir("ns1"), seg)) {
				t.Errorf("hostA still holds segment %s once it was pulled", seg)
			}
		})
	}
	// Nothing a failed fetch half-wrote is left in hostB's directory.
	entries, err := os.ReadDir(b.shmDir("ns1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("hostB's ns1 directory holds %d entries, want the one fetched segment", len(entries))
	}
}

// TestRelayPortStillRelaysFrames: with blob reads on the relay's port,
// frames still cross it.
func TestRelayPortStillRelaysFrames(t *testing.T) {
	reg := registry.New(registry.Options{})
	a := startBlobHost(t, reg, "hostA", "127.0.0.1")
	b := startBlobHost(t, reg, "hostB", "127.0.0.2")
	var mu sync.Mutex
	var got []string
	srv := &transport.Server{Unverified: true, Handler: transport.HandlerFunc(func(_ context.Context, d *transport.Delivery) (frame.Code, string) {
		defer d.Release()
		mu.Lock()
		got = append(got, string(d.Payload()))
		mu.Unlock()
		return frame.CodeOK, ""
	})}
	ln := b.ns1.frameListener()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	a.ns1.waitFor("hostB/p1", func() bool { _, ok := a.ns1.table["hostB/p1"]; return ok })

	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	for i := range 3 {
		f := &frame.Frame{Kind: frame.KindStep, RunID: "run1", Workflow: "wf", Step: "s", Branch: uint32(i),
			Namespace: "ns1", Target: "hostB/p1", Payload: []byte(fmt.Sprint(i)), Size: 1}
		f.Sign(a.ns1.key)
		ack, err := c.Send(context.Background(), a.FrameEndpoint(), f, nil)
		if err != nil || ack.Code != frame.CodeOK {
			t.Fatalf("frame %d: ack %v %q, %v", i, ack.Code, ack.Reason, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "0,1,2" {
		t.Errorf("receiver got %q, want three frames", got)
	}
}

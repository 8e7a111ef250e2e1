package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

var (
	proxyBin string // the proxy, built static
	echoBin  string // the echo action, built static
	floorBin string // the HTTP floor: a bare Go HTTP echo server
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	proxyBin = filepath.Join(dir, "proxy")
	echoBin = filepath.Join(dir, "echo")
	floorBin = filepath.Join(dir, "httpecho")
	for out, pkg := range map[string]string{
		proxyBin: "github.com/wsk-route/wsk-route/cmd/proxy",
		echoBin:  "github.com/wsk-route/wsk-route/action-proxy/actionloop/example/echo",
		floorBin: "./testdata/httpecho",
	} {
		// As `make build` builds them.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, msg)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var sizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
	{"1MiB", 1 << 20},
}

// runBody is an invoker /run body whose total size is n bytes.
func runBody(n int) []byte {
	head := `{"value":{"arg":"`
	tail := `"},"namespace":"guest","action_name":"/guest/echo","activation_id":"0123456789abcdef0123456789abcdef","deadline":"4102444800000"}`
	pad := max(n-len(head)-len(tail), 0)
	return []byte(head + strings.Repeat("a", pad) + tail)
}

// BenchmarkRun measures one activation of the echo action: "raw" drives the
// action over its pipes; "proxy" posts /run to the proxy binary over one
// kept-alive connection; "proxy-newconn" opens a connection per request, as
// OpenWhisk's invoker does. "http-floor" posts the same body to a bare Go
// HTTP server in its own process that echoes it back, unparsed, with no
// child behind it: what any HTTP hop into a container costs on this machine.
func BenchmarkRun(b *testing.B) {
	for _, size := range sizes {
		body := runBody(size.n)
		b.Run("size="+size.name+"/raw", func(b *testing.B) { benchRaw(b, body) })
		b.Run("size="+size.name+"/http-floor", func(b *testing.B) { benchFloor(b, body) })
		b.Run("size="+size.name+"/proxy", func(b *testing.B) { benchProxy(b, body, true) })
		b.Run("size="+size.name+"/proxy-newconn", func(b *testing.B) { benchProxy(b, body, false) })
	}
}

func benchRaw(b *testing.B, body []byte) {
	cmd := exec.Command(echoBin)
	cmd.Env = []string{"__OW_WAIT_FOR_ACK=1"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	defer func() { stdin.Close(); cmd.Wait(); r.Close() }()
	results := bufio.NewReaderSize(r, 64<<10)
	if _, err := results.ReadSlice('\n'); err != nil { // the ack
		b.Fatal(err)
	}
	line := append(append([]byte{}, body...), '\n')
	var out []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := stdin.Write(line); err != nil {
			b.Fatal(err)
		}
		out, err = readLine(results, out[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	checkEcho(b, body, out)
}

func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// checkEcho checks that a result is the value of the body.
func checkEcho(b *testing.B, body, result []byte) {
	var in struct{ Value json.RawMessage }
	if err := json.Unmarshal(body, &in); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(result), in.Value) {
		b.Fatalf("result is %d bytes, want the %d-byte value", len(result), len(in.Value))
	}
}

func benchProxy(b *testing.B, body []byte, keepAlive bool) {
	p := startProxy(b)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	runURL := p.url + "/run"

	// Warm up, then take the idle figure: the proxy after /init and one
	// activation, settled. busy is its RSS right after the timed loop; peak is its
	// high-water mark, /init included.
	out := post(b, client, runURL, body)
	// /init hands its memory back to the OS after answering; let it finish.
	time.Sleep(250 * time.Millisecond)
	idle := rssKiB(b, p.cmd.Process.Pid, "VmRSS")

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out = post(b, client, runURL, body)
	}
	b.StopTimer()
	busy := rssKiB(b, p.cmd.Process.Pid, "VmRSS")
	checkEcho(b, body, out)
	b.ReportMetric(float64(idle)/1024, "idle-RSS-MiB")
	b.ReportMetric(float64(busy)/1024, "busy-RSS-MiB")
	b.ReportMetric(float64(rssKiB(b, p.cmd.Process.Pid, "VmHWM"))/1024, "peak-RSS-MiB")
}

func benchFloor(b *testing.B, body []byte) {
	addr := freeAddr(b)
	cmd := exec.Command(floorBin, addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://" + addr + "/run"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("http floor server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client.CloseIdleConnections()
	benchPost(b, url, body, func(out []byte) {
		if !bytes.Equal(out, body) {
			b.Fatalf("http floor answered %d bytes, want the %d-byte body", len(out), len(body))
		}
	})
}

type proxyProc struct {
	cmd *exec.Cmd
	url string
}

// startProxy runs the proxy binary on a free loopback port, as a runtime
// image would (OW_WAIT_FOR_ACK set), and initialises it with the echo
// action sent as base64, as the invoker does.
func startProxy(b *testing.B) *proxyProc {
	b.Helper()
	dir := b.TempDir()
	logs, err := os.Create(filepath.Join(dir, "logs"))
	if err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	cmd := exec.Command(proxyBin, "-listen", addr)
	cmd.Dir = dir
	cmd.Env = []string{"OW_WAIT_FOR_ACK=1", "OW_LOG_INIT_ERROR=1"}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logs.Close() })
	p := &proxyProc{cmd: cmd, url: "http://" + addr}

	code, err := os.ReadFile(echoBin)
	if err != nil {
		b.Fatal(err)
	}
	init, _ := json.Marshal(map[string]any{"value": map[string]any{
		"code": base64.StdEncoding.EncodeToString(code), "binary": true, "main": "main",
	}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(p.url+"/init", "application/json", bytes.NewReader(init))
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("/init: %d %s", resp.StatusCode, msg)
			}
			return p
		}
		if time.Now().After(deadline) {
			b.Fatalf("proxy did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the invoker retries /init like this
	}
}

func post(b *testing.B, client *http.Client, url string, body []byte) []byte {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("/run: %d %v %.200s", resp.StatusCode, err, out)
	}
	return out
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rssKiB reads a memory figure (VmRSS, VmHWM) of a process, in KiB.
func rssKiB(b *testing.B, pid int, field string) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// BenchmarkInProcess runs the HTTP floor and the proxy inside the benchmark
// process (httptest servers on loopback; the echo action is still a child
// process). It shows what the cross-process hop of BenchmarkRun costs on
// this machine, and lets -cpuprofile see the proxy's own code:
//
//	go test -run '^$' -bench InProcess -cpuprofile cpu.out ./benchmarks/proxy/
func BenchmarkInProcess(b *testing.B) {
	for _, size := range sizes {
		body := runBody(size.n)
		b.Run("size="+size.name+"/http-floor", func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				in, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Length", strconv.Itoa(len(in)))
				w.Write(in)
			}))
			defer srv.Close()
			benchPost(b, srv.URL+"/run", body, func(out []byte) {
				if !bytes.Equal(out, body) {
					b.Fatalf("http floor answered %d bytes, want %d", len(out), len(body))
				}
			})
		})
		b.Run("size="+size.name+"/proxy", func(b *testing.B) {
			dir := b.TempDir()
			logs, err := os.Create(filepath.Join(dir, "logs"))
			if err != nil {
				b.Fatal(err)
			}
			defer logs.Close()
			p, err := server.New(server.Config{BaseDir: dir, WaitForAck: true, Environ: []string{}, Stdout: logs, Stderr: logs})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			srv := httptest.NewServer(p)
			defer srv.Close()
			code, err := os.ReadFile(echoBin)
			if err != nil {
				b.Fatal(err)
			}
			init, _ := json.Marshal(map[string]any{"value": map[string]any{"code": base64.StdEncoding.EncodeToString(code), "binary": true}})
			post(b, http.DefaultClient, srv.URL+"/init", init)
			benchPost(b, srv.URL+"/run", body, func(out []byte) { checkEcho(b, body, out) })
		})
	}
}

// benchPost times POSTs of body to url over one kept-alive connection and
// checks the last answer.
func benchPost(b *testing.B, url string, body []byte, check func([]byte)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var out []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out = post(b, client, url, body)
	}
	b.StopTimer()
	check(out)
}

package sandbox_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
)

// payloadSize is the size of each run's input text, and so of its result.
const payloadSize = 200 << 10

// retentionFlow deploys, in sb, the workflow kr (kr-upper, then kr-words)
// with its entry action, and returns a function that runs it once with a
// payloadSize input and checks the result.
func retentionFlow(t *testing.T, sb *sandbox.Sandbox) func() {
	t.Helper()
	c := clientOf(t, sb)
	steps := []string{"kr-upper", "kr-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
	}
	if _, err := sb.Routes().PutSpec(context.Background(), chain("kr", steps...)); err != nil {
		t.Fatal(err)
	}
	code := server.EntryCode("kr")
	entry := &whisk.Action{Name: "kr", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	text := strings.Repeat("abcdefg ", payloadSize/8)
	return func() {
		t.Helper()
		act, resp := invoke(t, c, "kr", map[string]any{"text": text})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("invoking kr: %s %+v", resp.Status, act.Response)
		}
		if r, _ := act.Response.Result.(map[string]any); fmt.Sprint(r["words"]) != strconv.Itoa(payloadSize/8) {
			t.Fatalf("kr result without %d words: %.200v", payloadSize/8, act.Response.Result)
		}
	}
}

// retained returns the bytes the broker of sb holds and the records it
// has cut.
func retained(t *testing.T, sb *sandbox.Sandbox) (bytes, trimmed int64) {
	t.Helper()
	bytes, trimmed, ok := sandbox.KafkaRetention(sb)
	if !ok {
		t.Fatal("the sandbox has no embedded broker")
	}
	return bytes, trimmed
}

// drained waits until the broker of sb holds at most limit bytes.
func drained(t *testing.T, sb *sandbox.Sandbox, limit int64) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := retained(t, sb)
		if b <= limit {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker still holds %d bytes once every message was consumed, want at most %d", b, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKafkaRetentionBounded runs a workflow 200 times with 200 KB inputs
// (each run puts about 800 KB on the broker: the activation message with
// the input, and the ack with the record: the result and the steps' logs,
// which quote the text) and checks that the embedded broker cuts what its
// consumers have read: once the runs are over it holds nothing, having
// cut the two messages of every run.
func TestKafkaRetentionBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("200 runs of 200 KB")
	}
	sb := startSandbox(t, sandbox.Config{})
	run := retentionFlow(t, sb.Sandbox)
	const runs = 200
	var peak int64
	for range runs {
		run()
		if b, _ := retained(t, sb.Sandbox); b > peak {
			peak = b
		}
	}
	left := drained(t, sb.Sandbox, 0)
	_, trimmed := retained(t, sb.Sandbox)
	t.Logf("%d runs of %d KB: the broker held at most %.1f MB between runs, %d bytes at the end; %d records cut",
		runs, payloadSize>>10, float64(peak)/1e6, left, trimmed)
	if trimmed < 2*runs {
		t.Errorf("%d records cut, want at least %d (the message and the ack of each run)", trimmed, 2*runs)
	}
}

// TestKafkaSoak is the long form (WSK_ROUTE_SOAK=1; WSK_ROUTE_SOAK_RUNS,
// default 2000): it reports this process's Go heap and resident memory
// (anonymous, and file-backed), the store (its records, its file, bbolt's
// map of it and the part of the map that is resident), its containers',
// the broker's bytes and the load average, before and after, and fails if
// the heap or the anonymous memory grew by more than 64 MB. Without the
// broker's trimming, both grow by about 850 KB per run (+891 MB over 1000
// runs). Each run also leaves an activation record of about 615 KB in the
// store, which keeps 256 MiB of them (store.DefaultMaxActivationBytes):
// when the store is full by a quarter of the runs, so that by half of them
// every record has been replaced, the test also fails if the store's file,
// its map or the resident file-backed memory grew in the second half.
func TestKafkaSoak(t *testing.T) {
	if os.Getenv("WSK_ROUTE_SOAK") != "1" {
		t.Skip("the soak runs with WSK_ROUTE_SOAK=1 (go test -run TestKafkaSoak -v ./cmd/wsk-route/sandbox/)")
	}
	runs := 2000
	if n, err := strconv.Atoi(os.Getenv("WSK_ROUTE_SOAK_RUNS")); err == nil && n > 0 {
		runs = n
	}
	sb := startSandbox(t, sandbox.Config{})
	run := retentionFlow(t, sb.Sandbox)
	for range 50 { // warm: containers, pools, buffers
		run()
	}
	drained(t, sb.Sandbox, 0)
	db := filepath.Join(sb.Info.DataDir, "wsk-route.db")
	memory := func(t *testing.T) mem {
		m := memoryOf(t, db)
		u, err := sb.Store().Usage()
		if err != nil {
			t.Fatal(err)
		}
		m.records, m.recordBytes, m.dbFree = u.Activations, float64(u.ActivationBytes), float64(u.FreeBytes)
		return m
	}
	before := memory(t)
	t.Logf("before: %v", before)
	start := time.Now()
	var peak int64
	var quarter, half mem
	for i := range runs {
		run()
		if b, _ := retained(t, sb.Sandbox); b > peak {
			peak = b
		}
		switch {
		case i+1 == runs/4:
			quarter = memory(t)
			t.Logf("after %d runs: %v", i+1, quarter)
		case i+1 == runs/2:
			half = memory(t)
			t.Logf("after %d runs: %v", i+1, half)
		case (i+1)%500 == 0:
			t.Logf("after %d runs: %v", i+1, memory(t))
		}
	}
	elapsed := time.Since(start)
	left := drained(t, sb.Sandbox, 0)
	after := memory(t)
	_, trimmed := retained(t, sb.Sandbox)
	t.Logf("%d runs of %d KB in %v (%.1f runs/s)", runs, payloadSize>>10, elapsed.Round(time.Millisecond), float64(runs)/elapsed.Seconds())
	t.Logf("after: %v", after)
	t.Logf("growth: heap %+.1f MB, RSS anon %+.1f MB, RSS file %+.1f MB; store file %+.1f MB, its mapping %+.1f MB (resident %+.1f MB)",
		(after.heap-before.heap)/1e6, (after.anon-before.anon)/1e6, (after.file-before.file)/1e6,
		(after.dbFile-before.dbFile)/1e6, (after.dbMap-before.dbMap)/1e6, (after.dbRSS-before.dbRSS)/1e6)
	t.Logf("broker: at most %.1f MB held between runs, %d bytes at the end, %d records cut", float64(peak)/1e6, left, trimmed)
	if after.heap-before.heap > 64e6 || after.anon-before.anon > 64e6 {
		t.Errorf("the Go heap grew by %.1f MB and the anonymous RSS by %.1f MB over %d runs, want both flat",
			(after.heap-before.heap)/1e6, (after.anon-before.anon)/1e6, runs)
	}
	if quarter.recordBytes < 0.9*store.DefaultMaxActivationBytes {
		t.Logf("the store was not full after a quarter of the runs: its growth in the second half is not checked")
	} else if after.dbFile > half.dbFile || after.dbMap > half.dbMap || after.file-half.file > 16e6 {
		t.Errorf("in the second half of the runs, with the store full, its file went from %.1f to %.1f MB, its map from %.1f to %.1f MB, the resident file-backed memory from %.1f to %.1f MB; want them flat",
			half.dbFile/1e6, after.dbFile/1e6, half.dbMap/1e6, after.dbMap/1e6, half.file/1e6, after.file/1e6)
	}
}

// mem is this process's memory, in bytes.
type mem struct {
	heap        float64 // Go heap in use after a collection
	anon        float64 // resident anonymous memory (the Go heap and stacks, cgo), after idle heap went back to the OS
	file        float64 // resident file-backed and shared memory (the store's bbolt map, the executable, shm)
	dbFile      float64 // the store's file: its size
	dbMap       float64 // the store's file: the size of bbolt's mapping of it
	dbRSS       float64 // the store's file: the resident part of that mapping (in file)
	dbFree      float64 // the store's file: the pages bbolt freed, to reuse
	records     int64   // the activation records the store keeps
	recordBytes float64 // their bytes, as the store's byte budget counts them
	processes   float64 // resident memory of the sandbox's proxy and action processes
	load        string  // the load average (1, 5, 15 min), from /proc/loadavg
}

func (m mem) String() string {
	return fmt.Sprintf("heap %.1f MB, RSS anon %.1f MB + file %.1f MB; store: %d records, %.1f MB, in a file of %.1f MB (%.1f MB free), mapped %.1f MB, resident %.1f MB; containers %.1f MB; load %s",
		m.heap/1e6, m.anon/1e6, m.file/1e6, m.records, m.recordBytes/1e6, m.dbFile/1e6, m.dbFree/1e6, m.dbMap/1e6, m.dbRSS/1e6, m.processes/1e6, m.load)
}

// memoryOf measures this process's memory, its children's and the store's
// file at db.
func memoryOf(t *testing.T, db string) mem {
	t.Helper()
	debug.FreeOSMemory() // a collection, and idle heap back to the OS
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{heap: float64(ms.HeapInuse)}
	m.anon, m.file = rss(strconv.Itoa(os.Getpid()))
	if fi, err := os.Stat(db); err == nil {
		m.dbFile = float64(fi.Size())
	}
	m.dbMap, m.dbRSS = mapping(db)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.load = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), os.Getpid()))
	for _, pid := range strings.Fields(string(kids)) {
		a, f := rss(pid)
		m.processes += a + f
	}
	return m
}

// rss reads the resident anonymous and file-backed memory of a process
// from /proc/<pid>/status; zeros where it cannot.
func rss(pid string) (anon, file float64) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "RssAnon":
			anon = kb * 1024
		case "RssFile", "RssShmem":
			file += kb * 1024
		}
	}
	return anon, file
}

// mapping reads, from /proc/self/smaps, the size and the resident part of
// this process's mappings of the file at path; zeros where it cannot.
func mapping(path string) (size, resident float64) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header: address range, perms, offset, dev, inode, path
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if !in || len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "Size:":
			size += kb * 1024
		case "Rss:":
			resident += kb * 1024
		}
	}
	return size, resident
}

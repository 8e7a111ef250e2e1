package agent

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// shmLayout is a shm root with the directory of namespace ns1 and, beside
// it, a directory standing for a path of the host with a file in it.
type shmLayout struct {
	root, ns1, host, secret string
}

func newShmLayout(t *testing.T) shmLayout {
	t.Helper()
	base := t.TempDir()
	l := shmLayout{root: filepath.Join(base, "shm"), host: filepath.Join(base, "etc")}
	l.ns1 = filepath.Join(l.root, "ns1")
	for _, d := range []string{l.ns1, l.host} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	l.secret = filepath.Join(l.host, "1764590000000000000-0123456789abcdef.seg")
	if err := os.WriteFile(l.secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l shmLayout) secretIntact(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(l.secret); err != nil || string(b) != "host secret" {
		t.Fatalf("host file: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(l.host); len(entries) != 1 {
		t.Fatalf("the host directory has %d entries, want only its own file", len(entries))
	}
}

// What a container plants in its shm directory, which it can write,
// never makes the agent (root on the host) read a host path, block, or
// write through a symlink: a blob read of a symlink, FIFO or device named
// like a segment is refused; so is the whole directory replaced by a
// symlink, for reads and for the segments a fetch writes.
func TestBlobSegmentsRefusePlantedEntries(t *testing.T) {
	l := newShmLayout(t)
	link := "1764590000000000000-aaaaaaaaaaaaaaaa.seg"
	if err := os.Symlink(l.secret, filepath.Join(l.ns1, link)); err != nil {
		t.Fatal(err)
	}
	fifo := "1764590000000000000-bbbbbbbbbbbbbbbb.seg"
	if err := unix.Mkfifo(filepath.Join(l.ns1, fifo), 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{link, fifo}
	dev := "1764590000000000000-cccccccccccccccc.seg"
	if unix.Mknod(filepath.Join(l.ns1, dev), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5))) == nil { // /dev/zero; needs root
		names = append(names, dev)
	}
	for _, name := range names {
		done := make(chan error, 1)
		go func() {
			f, err := openSegment(l.ns1, name, 11)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("blob read of planted %s: %v (status %d), want 404 not a regular file", name, err, statusOf(err))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("blob read of planted %s blocked", name)
		}
	}

	// The namespace's directory replaced by a symlink to the host's.
	ns2 := filepath.Join(l.root, "ns2")
	if err := os.Symlink(l.host, ns2); err != nil {
		t.Fatal(err)
	}
	if f, err := openSegment(ns2, filepath.Base(l.secret), 11); err == nil {
		f.Close()
		t.Error("blob read through a symlinked namespace directory opened the host file")
	}
	if name, err := writeSegment(ns2, time.Now().Add(time.Minute), bytes.NewReader([]byte("x")), 1); err == nil {
		t.Errorf("blob fetch wrote segment %s through a symlinked namespace directory", name)
	}
	if err := shm.Remove(ns2, filepath.Base(l.secret)); err == nil {
		t.Error("removing a served blob through a symlinked namespace directory succeeded")
	}
	l.secretIntact(t)

	// The real thing still works.
	name, err := writeSegment(l.ns1, time.Now().Add(time.Minute), strings.NewReader("payload"), 7)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openSegment(l.ns1, name, 7)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := writeSegment(l.ns1, time.Now(), strings.NewReader("short"), 7); err == nil || !strings.Contains(err.Error(), "size mismatch") {
		t.Errorf("a short blob: %v, want a size mismatch", err)
	}
	if entries, _ := os.ReadDir(l.ns1); len(entries) != len(names)+1 {
		t.Errorf("%d entries in the namespace directory, want the planted ones and one segment (a failed write leaves nothing)", len(entries))
	}
}

// The agent's sweep leaves a symlinked namespace directory, and links in a
// real one, alone: it never removes a host file.
func TestSweepLeavesHostFiles(t *testing.T) {
	l := newShmLayout(t)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(l.secret, old, old)
	if err := os.Symlink(l.host, filepath.Join(l.root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(l.secret, filepath.Join(l.ns1, "1-aaaaaaaaaaaaaaaa.seg")); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Sweep(filepath.Join(l.root, "evil"), time.Now(), time.Second); err == nil {
		t.Error("Sweep of a symlinked directory did not refuse")
	}
	if _, err := shm.Sweep(l.ns1, time.Now(), time.Second); err != nil {
		t.Error(err)
	}
	l.secretIntact(t)
}

// A blob request body over blob.MaxRequest is refused, announced or not,
// without being read whole.
func TestBlobRequestBounds(t *testing.T) {
	big := bytes.Repeat([]byte("x"), blob.MaxRequest+1)
	for _, tt := range []struct {
		name   string
		body   io.Reader
		length int64
		status int
	}{
		{"announced over", bytes.NewReader(big), int64(len(big)), http.StatusRequestEntityTooLarge},
		{"chunked over", io.MultiReader(bytes.NewReader(big)), -1, http.StatusRequestEntityTooLarge},
		{"at the bound, not a frame", bytes.NewReader(big[:blob.MaxRequest]), blob.MaxRequest, http.StatusBadRequest},
	} {
		r := httptest.NewRequest(http.MethodPost, blob.ReadPath, tt.body)
		r.ContentLength = tt.length
		_, err := readRequest(httptest.NewRecorder(), r)
		if statusOf(err) != tt.status {
			t.Errorf("%s: %v (status %d), want status %d", tt.name, err, statusOf(err), tt.status)
		}
	}
}

// limitConns serves at most n connections at once; one more is closed as
// it is accepted, and a slot comes back when a connection closes.
func TestLimitConns(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConns(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := dial(), dial()
	defer c1.Close()
	defer c2.Close()
	s1, s2 := <-accepted, <-accepted
	c3 := dial()
	defer c3.Close()
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("third connection: read %v, want EOF (closed at once)", err)
	}
	s1.Close()
	s1.Close() // idempotent: frees one slot only
	c4 := dial()
	defer c4.Close()
	select {
	case s4 := <-accepted:
		s4.Close()
	case <-time.After(5 * time.Second):
		t.Error("no connection accepted once a slot was free")
	}
	s2.Close()
}

package shm

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestWriteOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4096, 1 << 20} {
		t.Run(strings.ReplaceAll(sizeName(size), " ", ""), func(t *testing.T) {
			data := pattern(size)
			deadline := time.Unix(1700000000, 123)
			name, err := Write(dir, data, deadline)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !ValidName(name) {
				t.Fatalf("Write returned invalid name %q", name)
			}
			d, err := Deadline(name)
			if err != nil || !d.Equal(deadline) {
				t.Fatalf("Deadline(%q) = %v, %v; want %v", name, d, err, deadline)
			}
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != 0o600 {
				t.Errorf("mode = %v, want 0600", got)
			}
			seg, err := Open(dir, name, uint64(size))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := seg.Bytes(); !bytes.Equal(got, data) {
				t.Fatalf("Bytes: got %d bytes, want %d (contents differ)", len(got), len(data))
			}
			if err := seg.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := seg.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if len(seg.Bytes()) != 0 {
				t.Fatal("Bytes after Close not empty")
			}
			if err := Remove(dir, name); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if err := Remove(dir, name); err != nil {
				t.Fatalf("second Remove: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("segment still there after Remove: %v", err)
			}
		})
	}
}

func TestWriteUniqueNames(t *testing.T) {
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		name, err := Write(dir, nil, time.Unix(5, 0))
		if err != nil {
			t.Fatal(err)
		}
		if seen[name] {
			t.Fatalf("duplicate name %q", name)
		}
		seen[name] = true
	}
}

func TestWriteMissingDir(t *testing.T) {
	if _, err := Write(filepath.Join(t.TempDir(), "nope"), []byte("x"), time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Write into missing dir: got %v, want ErrNotExist", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	good, err := Write(dir, []byte("hello"), time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	// A file outside dir that a traversal would reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "100-0123456789abcdef.seg"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, good), filepath.Join(dir, "200-0123456789abcdef.seg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "300-0123456789abcdef.seg"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		size uint64
		want error // matched with errors.Is; nil: any error
		text string
	}{
		{"", 5, ErrBadName, "bad segment name"},
		{"../100-0123456789abcdef.seg", 5, ErrBadName, "bad segment name"},
		{"..", 5, ErrBadName, ""},
		{"a/100-0123456789abcdef.seg", 5, ErrBadName, ""},
		{"100-0123456789ABCDEF.seg", 5, ErrBadName, ""},
		{"100-0123456789abcde.seg", 5, ErrBadName, ""},
		{"100-0123456789abcdef0.seg", 5, ErrBadName, ""},
		{"-100-0123456789abcdef.seg", 5, ErrBadName, ""},
		{"100-0123456789abcdef.seg/", 5, ErrBadName, ""},
		{"100-0123456789abcdef", 5, ErrBadName, ""},
		{"99999999999999999999-0123456789abcdef.seg", 5, ErrBadName, ""},
		{good, 4, ErrSize, "is 5 bytes, want 4"},
		{good, 6, ErrSize, "is 5 bytes, want 6"},
		{good, 1 << 63, ErrSize, "too large"},
		{"100-fedcba9876543210.seg", 5, fs.ErrNotExist, "no such file"},
		{"200-0123456789abcdef.seg", 5, nil, "symbolic links"},
		{"300-0123456789abcdef.seg", 5, nil, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg, err := Open(dir, tt.name, tt.size)
			if err == nil {
				seg.Close()
				t.Fatalf("Open(%q, %d) succeeded, want error", tt.name, tt.size)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open(%q, %d) = %v, want %v", tt.name, tt.size, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "shm: ") || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Open(%q, %d) error %q: want prefix \"shm: \" and %q", tt.name, tt.size, err, tt.text)
			}
		})
	}
}

func TestRemoveRefusesBadName(t *testing.T) {
	for _, name := range []string{"../x", "x", "", "100-0123456789abcdef.seg/.."} {
		if err := Remove(t.TempDir(), name); !errors.Is(err, ErrBadName) {
			t.Errorf("Remove(%q) = %v, want ErrBadName", name, err)
		}
	}
}

func TestSweep(t *testing.T) {
	now := time.Unix(10_000, 0)
	grace := 10 * time.Second
	tests := []struct {
		desc   string
		file   string
		mtime  time.Time
		dir    bool
		remove bool
	}{
		{"expired segment", segName(now.Add(-grace - time.Nanosecond)), now, false, true},
		{"segment within grace", segName(now.Add(-grace + time.Second)), now, false, false},
		{"segment at cutoff", segName(now.Add(-grace)), now, false, false},
		{"future segment", segName(now.Add(time.Hour)), now.Add(-time.Hour), false, false},
		{"old stray file", "stray.tmp", now.Add(-grace - time.Second), false, true},
		{"new stray file", "fresh.tmp", now.Add(-grace + time.Second), false, false},
		{"old directory", "olddir", now.Add(-time.Hour), true, false},
		{"old dir named like segment", segName(time.Unix(1, 0)), now.Add(-time.Hour), true, false},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		p := filepath.Join(dir, tt.file)
		var err error
		if tt.dir {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, tt.mtime, tt.mtime); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Sweep(dir, now, grace)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	want := 0
	for _, tt := range tests {
		_, err := os.Lstat(filepath.Join(dir, tt.file))
		gone := errors.Is(err, fs.ErrNotExist)
		if gone != tt.remove {
			t.Errorf("%s (%s): removed = %v, want %v", tt.desc, tt.file, gone, tt.remove)
		}
		if tt.remove {
			want++
		}
	}
	if n != want {
		t.Errorf("Sweep returned %d, want %d", n, want)
	}
	if _, err := Sweep(filepath.Join(dir, "missing"), now, grace); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sweep of missing dir = %v, want ErrNotExist", err)
	}
}

func segName(deadline time.Time) string {
	return itoa(deadline.UnixNano()) + "-00112233aabbccdd.seg"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"100-0123456789abcdef.seg", "../x", "", "1-aaaaaaaaaaaaaaaa.seg", "00-0000000000000000.seg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !ValidName(name) {
			return
		}
		if strings.ContainsAny(name, "/\x00") || strings.Contains(name, "..") || filepath.Base(name) != name {
			t.Fatalf("ValidName accepted %q", name)
		}
		if _, err := Deadline(name); err != nil {
			t.Fatalf("Deadline(%q): %v", name, err)
		}
	})
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(int64(n>>20)) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(int64(n>>10)) + "KiB"
	}
	return itoa(int64(n)) + "B"
}

var benchSizes = []int{1 << 10, 1 << 20, 64 << 20}

// BenchmarkWriteOpen measures a full segment hand-off: Write, Open, touch
// every page, Close, Remove. Sub-benchmark "mmap" uses the ftruncate+mmap
// write path instead of write(2) for comparison.
func BenchmarkWriteOpen(b *testing.B) {
	dir := shmBenchDir(b)
	for _, size := range benchSizes {
		data := pattern(size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				name, err := Write(dir, data, time.Now().Add(time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				openTouchRemove(b, dir, name, size)
			}
		})
		b.Run(sizeName(size)+"/mmap", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				name := segName(time.Now().Add(time.Minute))
				path := filepath.Join(dir, name)
				fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeMmap(fd, data); err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
				openTouchRemove(b, dir, name, size)
			}
		})
	}
}

func openTouchRemove(b *testing.B, dir, name string, size int) {
	seg, err := Open(dir, name, uint64(size))
	if err != nil {
		b.Fatal(err)
	}
	p := seg.Bytes()
	var sum byte
	for j := 0; j < len(p); j += 4096 {
		sum += p[j]
	}
	sink = sum
	seg.Close()
	if err := Remove(dir, name); err != nil {
		b.Fatal(err)
	}
}

var sink byte

// writeMmap is the alternative to writeAll kept for the benchmark: it sizes
// the file with ftruncate and copies data through a shared mapping. fd must
// be open read-write.
func writeMmap(fd int, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
		return err
	}
	m, err := unix.Mmap(fd, 0, len(data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(m, data)
	return unix.Munmap(m)
}

// BenchmarkMemcpy is the baseline for BenchmarkWriteOpen: one copy of the
// same sizes between two Go slices.
func BenchmarkMemcpy(b *testing.B) {
	for _, size := range benchSizes {
		src, dst := pattern(size), make([]byte, size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(dst, src)
			}
		})
	}
}

// shmBenchDir is a tmpfs directory when /dev/shm is usable, else a temp dir.
func shmBenchDir(b *testing.B) string {
	if d, err := os.MkdirTemp("/dev/shm", "wsk-shm-bench-"); err == nil {
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

// BenchmarkWriteHugePages compares Write of a 256 MiB segment on /dev/shm
// with the same on a tmpfs mounted with huge=always, the mount that
// docs/route-plane.md recommends for the shm directory. Mounting needs
// root; without it the huge-page case is skipped.
//
//	go test -run '^$' -bench WriteHugePages -benchtime 5x -count 3 ./internal/shm/
func BenchmarkWriteHugePages(b *testing.B) {
	const size = 256 << 20
	data := pattern(size)
	write := func(b *testing.B, dir string) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			name, err := Write(dir, data, time.Now().Add(time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := Remove(dir, name); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.Run("dev-shm", func(b *testing.B) { write(b, shmBenchDir(b)) })
	b.Run("tmpfs-huge", func(b *testing.B) {
		dir := b.TempDir()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "huge=always,size=1g"); err != nil {
			b.Skipf("mounting a huge-page tmpfs: %v (needs root)", err)
		}
		b.Cleanup(func() { unix.Unmount(dir, 0) })
		// The first segment pays for assembling the huge pages.
		name, err := Write(dir, data, time.Now().Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		Remove(dir, name)
		b.ResetTimer()
		write(b, dir)
	})
}

// Entries a container can plant in its shm directory (writable from
// inside) never make Open, OpenFile, Remove, Write or Sweep, run by the
// agent as root, read, write, block on or remove anything but a regular
// file of that directory; and a shm directory replaced by a symlink is
// refused as a whole.
func TestHostileEntries(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ns")
	host := filepath.Join(base, "host") // stands for a host path
	for _, d := range []string{dir, host} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(host, "100-0123456789abcdef.seg")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(secret, old, old)
	link := "100-aaaaaaaaaaaaaaaa.seg" // expired by its name
	if err := os.Symlink(secret, filepath.Join(dir, link)); err != nil {
		t.Fatal(err)
	}
	fifo := "100-bbbbbbbbbbbbbbbb.seg"
	if err := unix.Mkfifo(filepath.Join(dir, fifo), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := "100-cccccccccccccccc.seg"
	devOK := unix.Mknod(filepath.Join(dir, dev), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5))) == nil // /dev/zero; needs root

	for _, name := range []string{link, fifo, dev} {
		if name == dev && !devOK {
			continue
		}
		done := make(chan error, 2)
		go func() {
			seg, err := Open(dir, name, 11)
			if err == nil {
				seg.Close()
			}
			done <- err
		}()
		go func() {
			f, _, err := OpenFile(dir, name)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		for range 2 {
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("%s: opened", name)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: Open blocked", name)
			}
		}
	}

	// Sweep leaves the planted entries and the host file alone.
	if _, err := Sweep(dir, time.Now(), time.Second); err != nil {
		t.Errorf("Sweep: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, link)); err != nil {
		t.Errorf("Sweep removed the symlink (not a regular file): %v", err)
	}
	// Remove removes the link itself, not its target.
	if err := Remove(dir, link); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "host secret" {
		t.Fatalf("host file after Sweep and Remove of a link to it: %q, %v", b, err)
	}

	// The namespace directory replaced by a symlink to a host directory.
	evil := filepath.Join(base, "evil")
	if err := os.Symlink(host, evil); err != nil {
		t.Fatal(err)
	}
	if n, err := Sweep(evil, time.Now(), time.Second); err == nil || n != 0 {
		t.Errorf("Sweep through a symlinked directory: %d removed, %v; want refused", n, err)
	}
	if err := Remove(evil, filepath.Base(secret)); err == nil {
		t.Error("Remove through a symlinked directory succeeded")
	}
	if seg, err := Open(evil, filepath.Base(secret), 11); err == nil {
		seg.Close()
		t.Error("Open through a symlinked directory succeeded")
	}
	if name, err := Write(evil, []byte("x"), time.Now()); err == nil {
		t.Errorf("Write through a symlinked directory created %s", name)
	}
	if name, f, err := Create(evil, time.Now()); err == nil {
		f.Close()
		t.Errorf("Create through a symlinked directory created %s", name)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "host secret" {
		t.Fatalf("host file after operations through a symlinked directory: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(host); len(entries) != 1 {
		t.Errorf("host directory has %d entries, want only the secret", len(entries))
	}
}

func TestCreateOpenFile(t *testing.T) {
	dir := t.TempDir()
	name, f, err := Create(dir, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("streamed"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, size, err := OpenFile(dir, name)
	if err != nil || size != 8 {
		t.Fatalf("OpenFile = size %d, %v", size, err)
	}
	defer r.Close()
	b := make([]byte, 16)
	if n, _ := r.Read(b); string(b[:n]) != "streamed" {
		t.Errorf("read %q", b[:n])
	}
	if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("segment mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// ReadInto copies a segment's first bytes out, from a file that may be
// longer (a pooled segment holds a smaller payload than its capacity), and
// refuses what Open refuses, and a file shorter than asked.
func TestReadInto(t *testing.T) {
	dir := t.TempDir()
	data := pattern(10 << 10)
	name, err := Write(dir, data, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 4096, 10 << 10} {
		dst := make([]byte, n)
		if err := ReadInto(dir, name, dst); err != nil {
			t.Fatalf("ReadInto(%d bytes): %v", n, err)
		}
		if !bytes.Equal(dst, data[:n]) {
			t.Fatalf("ReadInto(%d bytes) read other bytes", n)
		}
	}
	if err := os.Symlink(filepath.Join(dir, name), filepath.Join(dir, "200-0123456789abcdef.seg")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		n    int
		want string
	}{
		{name, 10<<10 + 1, "want at least"},
		{"../" + name, 1, "bad segment name"},
		{"200-0123456789abcdef.seg", 1, "symbolic links"},
		{"100-fedcba9876543210.seg", 1, "no such file"},
	} {
		err := ReadInto(dir, tt.name, make([]byte, tt.n))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadInto(%q, %d bytes) = %v, want an error with %q", tt.name, tt.n, err, tt.want)
		}
	}
}

// CreateMapped makes a segment of the asked size whose mapping writes
// through to the file: a receiver's ReadInto sees each payload written.
func TestCreateMapped(t *testing.T) {
	dir := t.TempDir()
	name, mem, err := CreateMapped(dir, 64<<10, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != 64<<10 {
		t.Fatalf("mapping of %d bytes, want %d", len(mem), 64<<10)
	}
	for seed := range 3 {
		data := pattern(10<<10 + seed)
		data[0] = byte(seed)
		copy(mem, data)
		got := make([]byte, len(data))
		if err := ReadInto(dir, name, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("payload %d: the reader saw other bytes", seed)
		}
	}
	if err := Unmap(mem); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir, name); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateMapped(filepath.Join(dir, "missing"), 1, time.Now()); err == nil || !strings.HasPrefix(err.Error(), "shm: ") {
		t.Errorf("CreateMapped in a missing directory = %v, want an shm error", err)
	}
}

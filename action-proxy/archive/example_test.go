package archive_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

func ExampleDetect() {
	payloads := [][]byte{
		[]byte("PK\x03\x04\x14\x00\x00\x00"),
		{0x1f, 0x8b, 0x08, 0x00},
		[]byte("#!/bin/sh\necho hello\n"),
		[]byte("def main(args):\n    return args\n"),
	}
	for _, p := range payloads {
		fmt.Println(archive.Detect(p), archive.IsExecutableBytes(p))
	}
	// Output:
	// zip false
	// tar.gz false
	// plain true
	// plain false
}

func ExampleExtract() {
	// A zip with an entry trying to climb out of the action directory.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("../../etc/cron.d/evil")
	fmt.Fprintln(w, "* * * * * root rm -rf /")
	zw.Close()

	base, err := os.MkdirTemp("", "action")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(base)
	err = archive.Extract(buf.Bytes(), filepath.Join(base, "1", "src"), archive.Options{})
	fmt.Println(err)
	// Output:
	// archive: zip entry "../../etc/cron.d/evil": path escapes the action directory
}

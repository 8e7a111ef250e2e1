package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// An /init body over the bound (OW_MAX_INIT_BYTES, else
// server.DefaultMaxInitBytes) is refused with 413 and the stock error shape,
// whether its length is announced or not; one at the bound is read.
func TestInitBodyBound(t *testing.T) {
	const limit = 1000
	h := newHarness(t, func(c *server.Config) { c.Environ = append(c.Environ, server.EnvMaxInitBytes+"=1000") })
	wantTooLarge := func(what string, got response) {
		t.Helper()
		if got.status != http.StatusRequestEntityTooLarge || !strings.HasPrefix(got.body, `{"error":"The action's code is too large: the /init request is over 1000 bytes (OW_MAX_INIT_BYTES)."}`) {
			t.Errorf("%s: got %v, want 413 with the stock error shape", what, got)
		}
	}
	// Valid JSON without code, padded to n bytes: answered 403 (no code)
	// when it is read at all.
	body := func(n int) []byte {
		b := []byte(`{"value":{"main":"`)
		b = append(b, bytes.Repeat([]byte("m"), n-len(b)-3)...)
		return append(b, `"}}`...)
	}
	want(t, "at the bound", h.init(t, body(limit)), 403, `{"error":"Missing main/no code to execute."}`+"\n")
	wantTooLarge("over the bound", h.init(t, body(limit+1)))

	// Chunked: no Content-Length, the bound is found while reading.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, h.srv.URL+"/init", io.MultiReader(bytes.NewReader(body(limit+1))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	got, err := h.pt.TryDo(t, req)
	if err != nil {
		t.Fatal(err)
	}
	wantTooLarge("chunked, over the bound", fromProxytest(got))

	// The proxy still initialises afterwards.
	h2 := newHarness(t, nil)
	h2.mustInit(t, childInit("echo"))
}

func TestInitBodyBoundDefault(t *testing.T) {
	if server.DefaultMaxInitBytes < 48<<20 {
		t.Errorf("DefaultMaxInitBytes %d is under OpenWhisk's 48 MB action size limit", server.DefaultMaxInitBytes)
	}
	h := newHarness(t, nil)
	got := h.init(t, bytes.Repeat([]byte(" "), server.DefaultMaxInitBytes+1))
	if got.status != http.StatusRequestEntityTooLarge {
		t.Errorf("init over the default bound: %v, want 413", got)
	}
}

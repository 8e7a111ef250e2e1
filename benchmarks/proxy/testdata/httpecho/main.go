// Command httpecho is the HTTP floor of the proxy benchmark: a Go HTTP
// server, in its own process like the proxy, that answers every POST with
// the "value" of its body, with no child process behind it. It serves the
// address given as its only argument.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var in struct{ Value json.RawMessage }
		if err == nil {
			// The proxy's child parses the value too; keep the work comparable.
			err = json.Unmarshal(body, &in)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := append(in.Value, '\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.Write(out)
	}))
}

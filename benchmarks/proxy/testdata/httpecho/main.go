// Command httpecho is the HTTP floor of the proxy benchmark: a Go HTTP
// server, in its own process like the proxy, that answers every POST with
// its body, unparsed, and no child process behind it. It serves the address
// given as its only argument.
package main

import (
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
}

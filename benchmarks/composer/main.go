package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/loadavg"
)

func main() {
	props := flag.String("wskprops", os.Getenv("WSK_CONFIG_FILE"), "the `file` with APIHOST and AUTH (wsk's format)")
	n := flag.Int("n", 200, "measured `rounds`: each invokes every workflow once")
	warm := flag.Int("warm", 10, "unmeasured `rounds` first")
	input := flag.String("input", `{"x":3}`, "the workflows' input (a JSON object)")
	flag.Parse()
	if err := run(*props, *n, *warm, []byte(*input), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "composer:", err)
		os.Exit(1)
	}
}

func run(props string, n, warm int, input []byte, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("name the workflows (entry actions or sequences) to measure")
	}
	host, auth, err := readProps(props)
	if err != nil {
		return err
	}
	user, pass, _ := strings.Cut(auth, ":")
	client := &http.Client{Timeout: 2 * time.Minute}
	call := func(name string) (time.Duration, error) {
		req, err := http.NewRequest(http.MethodPost, host+"/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", bytes.NewReader(input))
		if err != nil {
			return 0, err
		}
		req.SetBasicAuth(user, pass)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %s: %s", name, resp.Status, bytes.TrimSpace(body))
		}
		return took, nil
	}
	for range warm {
		for _, name := range names {
			if _, err := call(name); err != nil {
				return err
			}
		}
	}
	before := loadavg.String()
	took := make(map[string][]time.Duration, len(names))
	for range n {
		for _, name := range names {
			d, err := call(name)
			if err != nil {
				return err
			}
			took[name] = append(took[name], d)
		}
	}
	fmt.Printf("%d rounds, load average %s before, %s after\n", n, before, loadavg.String())
	fmt.Printf("%-14s %10s %10s\n", "workflow", "p50", "p99")
	for _, name := range names {
		d := took[name]
		slices.Sort(d)
		fmt.Printf("%-14s %10s %10s\n", name, d[len(d)/2].Round(time.Microsecond), d[len(d)*99/100].Round(time.Microsecond))
	}
	return nil
}

// readProps reads APIHOST and AUTH from a wskprops file.
func readProps(file string) (host, auth string, err error) {
	if file == "" {
		return "", "", fmt.Errorf("no -wskprops and no WSK_CONFIG_FILE")
	}
	f, err := os.Open(file)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch k {
		case "APIHOST":
			host = v
		case "AUTH":
			auth = v
		}
	}
	if host == "" || auth == "" {
		return "", "", fmt.Errorf("%s: no APIHOST or AUTH", file)
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return host, auth, sc.Err()
}

package server

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxConcurrent bounds the pool of children when concurrent
// activations are allowed and Config.MaxConcurrent is zero.
const DefaultMaxConcurrent = 64

// Config configures a Proxy. The zero value is a proxy with no compiler, no
// ack, working in ./action and writing to the process's stdout and stderr.
type Config struct {
	// BaseDir holds one numbered directory per /init (<n>/src, <n>/bin).
	// Empty means "./action", relative to the working directory, as the
	// stock proxy does.
	BaseDir string
	// Compiler is OW_COMPILER: the script that compiles sources. Empty
	// means never compile.
	Compiler string
	// WaitForAck is OW_WAIT_FOR_ACK: wait for the child's {"ok":true}.
	WaitForAck bool
	// ExecutionEnv is OW_EXECUTION_ENV: bin/exec.env must match it.
	ExecutionEnv string
	// LogInitError is OW_LOG_INIT_ERROR: init errors go to the logs, with
	// sentinels, and the response carries a generic message.
	LogInitError bool
	// SaveJar is OW_SAVE_JAR: the file name under which a jar is kept.
	SaveJar string
	// Debug allows re-initialisation and logs what the proxy does.
	Debug bool
	// AllowConcurrent is __OW_ALLOW_CONCURRENT=true: concurrent /run
	// requests each get a child of their own instead of waiting in line.
	AllowConcurrent bool
	// MaxConcurrent bounds that pool; zero means DefaultMaxConcurrent.
	MaxConcurrent int
	// Environ is the proxy's environment as "KEY=VALUE" pairs: its __OW_*
	// entries are passed to the child and the compiler, and PATH to the
	// compiler. Nil means os.Environ().
	Environ []string
	// Stdout and Stderr are inherited by the child, and receive the log
	// sentinels. Nil means os.Stdout and os.Stderr.
	Stdout, Stderr *os.File
	// AckTimeout bounds the wait for the child's ack. Zero means two
	// minutes; the deadline of the first activation (__OW_DEADLINE in the
	// init env) shortens it.
	AckTimeout time.Duration
	// Skeleton is WSK_ROUTE_SKELETON=1 (or true): the action's executable
	// is one for openwhisk/dockerskeleton, run once per activation with
	// its input in argv[1] and its result on the last line of its output.
	// The proxy starts SkeletonRunner as the ActionLoop process that does
	// so (package skeleton).
	Skeleton bool
	// SkeletonRunner is the program started, with argv[0] "proxy" and the
	// arguments -skeleton EXEC, to run a dockerskeleton executable: the
	// proxy's own binary. Empty means os.Executable().
	SkeletonRunner string
	// StartWindow is how long a child started without ack must live to
	// count as started. Zero means 5 ms, as in the stock proxy.
	StartWindow time.Duration
}

// FromEnv reads a Config from an environment given as "KEY=VALUE" pairs,
// the way the stock proxy reads its variables: OW_COMPILER,
// OW_WAIT_FOR_ACK, OW_EXECUTION_ENV, OW_LOG_INIT_ERROR, OW_SAVE_JAR, and
// also __OW_ALLOW_CONCURRENT, OW_MAX_CONCURRENT and WSK_ROUTE_SKELETON.
func FromEnv(environ []string) Config {
	get := func(key string) string {
		v, _ := lookup(environ, key)
		return v
	}
	cfg := Config{
		Compiler:        get("OW_COMPILER"),
		WaitForAck:      get("OW_WAIT_FOR_ACK") != "",
		ExecutionEnv:    get("OW_EXECUTION_ENV"),
		LogInitError:    get("OW_LOG_INIT_ERROR") != "",
		SaveJar:         get("OW_SAVE_JAR"),
		AllowConcurrent: strings.EqualFold(get("__OW_ALLOW_CONCURRENT"), "true"),
		Skeleton:        isTrue(get("WSK_ROUTE_SKELETON")),
		Environ:         environ,
	}
	if n, err := strconv.Atoi(get("OW_MAX_CONCURRENT")); err == nil && n > 0 {
		cfg.MaxConcurrent = n
	}
	return cfg
}

// isTrue reports whether a variable's value means yes: 1 or true.
func isTrue(v string) bool { return v == "1" || strings.EqualFold(v, "true") }

// lookup finds key in "KEY=VALUE" pairs. Only the first '=' separates the
// key, so values may contain '='.
func lookup(environ []string, key string) (string, bool) {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (c Config) withDefaults() Config {
	if c.BaseDir == "" {
		c.BaseDir = "./action"
	}
	if c.Environ == nil {
		c.Environ = os.Environ()
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 2 * time.Minute
	}
	return c
}

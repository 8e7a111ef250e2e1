package jsfn

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// Limits bound one function call. The zero value gives the defaults.
type Limits struct {
	// Timeout bounds the wall time of one call, promise jobs included.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// CheckEvery is how often a running call samples the heap. Zero means
	// DefaultCheckEvery. Calls shorter than this never sample it.
	CheckEvery time.Duration
	// MaxHeapGrowth is how far the process heap may grow during a call
	// before the call is interrupted. Zero means DefaultMaxHeapGrowth.
	MaxHeapGrowth uint64
	// MaxSource bounds the function's source text. Zero means DefaultMaxSource.
	MaxSource int
	// MaxParams bounds the parameter object's JSON. Zero means DefaultMaxParams.
	MaxParams int
	// MaxScope bounds the JSON of all variables in scope together, in and
	// out. Zero means DefaultMaxScope.
	MaxScope int
	// MaxResult bounds the JSON of the result. Zero means DefaultMaxResult.
	MaxResult int
	// MaxCallDepth bounds JavaScript call depth. Zero means DefaultMaxCallDepth.
	MaxCallDepth int
}

// Defaults of Limits.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultCheckEvery    = 2 * time.Millisecond
	DefaultMaxHeapGrowth = 256 << 20
	DefaultMaxSource     = 64 << 10
	DefaultMaxParams     = 8 << 20
	DefaultMaxScope      = 1 << 20
	DefaultMaxResult     = 8 << 20
	DefaultMaxCallDepth  = 2048
	maxNameSets          = 16 // compiled variable-name sets cached per Func
)

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.CheckEvery <= 0 {
		l.CheckEvery = DefaultCheckEvery
	}
	if l.MaxHeapGrowth == 0 {
		l.MaxHeapGrowth = DefaultMaxHeapGrowth
	}
	if l.MaxSource <= 0 {
		l.MaxSource = DefaultMaxSource
	}
	if l.MaxParams <= 0 {
		l.MaxParams = DefaultMaxParams
	}
	if l.MaxScope <= 0 {
		l.MaxScope = DefaultMaxScope
	}
	if l.MaxResult <= 0 {
		l.MaxResult = DefaultMaxResult
	}
	if l.MaxCallDepth <= 0 {
		l.MaxCallDepth = DefaultMaxCallDepth
	}
	return l
}

// Kind says how a call ended.
type Kind int

// Kinds of Result.
const (
	// KindOK: Result.Value holds the shaped result object.
	KindOK Kind = iota
	// KindThrew: the function threw, its promise was rejected, it does
	// not compile, or a variable it left could not be written back.
	// Composer makes this a catchable error object.
	KindThrew
	// KindFunction: the function returned a function (an error object).
	KindFunction
	// KindInternal: the result is not JSON (a Symbol, a BigInt, a cycle).
	// Composer's conductor fails with "Internal error: ..." (not catchable).
	KindInternal
	// KindInterrupted: the call ran out of time or heap, or returned a
	// promise that never settled. Composer's conductor activation would
	// fail (not catchable).
	KindInterrupted
)

func (k Kind) String() string {
	switch k {
	case KindOK:
		return "ok"
	case KindThrew:
		return "threw"
	case KindFunction:
		return "function"
	case KindInternal:
		return "internal"
	case KindInterrupted:
		return "interrupted"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Var is one variable in scope: its name and its value as JSON.
type Var struct {
	Name string
	JSON []byte
}

// Result is the outcome of one call.
type Result struct {
	Kind Kind
	// Value is the result as a JSON object (KindOK only): the returned
	// value, or the parameters when it returned undefined, with a non-object
	// wrapped as {"value": x}. It is JSON.stringify's text, so numbers are
	// written as JavaScript writes them.
	Value []byte
	// Vars holds, in the order of the call's vars, the JSON of each
	// variable after the call; only the first len(Vars) are to be written
	// back (composer stops at the first that JSON cannot represent).
	Vars [][]byte
	// Message says what went wrong, for logs (not KindOK).
	Message string
	// Logs holds what the call wrote with console.log and its siblings,
	// one entry per call, at most MaxLogLines entries of MaxLogLine bytes.
	Logs []string
}

// Bounds of Result.Logs.
const (
	MaxLogLines = 64
	MaxLogLine  = 1024
)

// ErrorObject returns the error object composer's conductor puts in place
// of a failed function step whose AST node has the given parent path (""
// for the root, ".components[1]" and so on), or nil for KindOK.
func (r *Result) ErrorObject(parent string) []byte {
	var msg string
	switch r.Kind {
	case KindOK:
		return nil
	case KindFunction:
		msg = "Function combinator evaluated to a function type at AST node root" + parent
	case KindThrew:
		msg = "Function combinator threw an exception at AST node root" + parent + " (see log for details)"
	case KindInternal:
		msg = "Internal error: " + r.Message
	default:
		msg = r.Message
	}
	return append(AppendString([]byte(`{"error":`), msg), '}')
}

// Func is a compiled composer function. It is safe for concurrent use.
type Func struct {
	code   string
	lim    Limits
	synErr error // non-nil: the code is not an expression

	mu    sync.Mutex
	progs map[string]*wrapper // mu guards progs; keyed by names joined with ","

	free chan *engine // idle engines
}

type wrapper struct {
	prog  *goja.Program
	err   error // compile error of the wrapper with these names
	names []string
}

// Compile prepares code, a JavaScript expression that evaluates to a
// function (composer's function.exec.code). It fails only when code is over
// Limits.MaxSource; code that does not compile gives a Func whose calls
// throw, as composer's would, and whose Check reports the syntax error.
func Compile(code string, lim Limits) (*Func, error) {
	lim = lim.withDefaults()
	if len(code) > lim.MaxSource {
		return nil, fmt.Errorf("%w: function source is %d bytes, limit %d", ErrTooLarge, len(code), lim.MaxSource)
	}
	f := &Func{code: code, lim: lim, progs: map[string]*wrapper{}, free: make(chan *engine, 8)}
	if w := f.wrapperFor(nil); w.err != nil {
		f.synErr = fmt.Errorf("%w: %v", ErrCompile, w.err)
	}
	return f, nil
}

// Check reports whether the code compiles (with no variables in scope):
// nil, or an error wrapping ErrCompile.
func (f *Func) Check() error { return f.synErr }

// wrapperSource builds the function composer's conductor evaluates: the
// variables declared with their values, the code evaluated as an
// expression, called with the parameters, and the variables written back
// to the environment object whatever happens.
func wrapperSource(code string, names []string) string {
	var b strings.Builder
	b.WriteString("(function(){try{const require=undefined;")
	for _, n := range names {
		b.WriteString("var " + n + "=arguments[1]['" + n + "'];")
	}
	b.WriteString("return (function(){return(" + code + ")})()(arguments[0])}finally{")
	for _, n := range names {
		b.WriteString("arguments[1]['" + n + "']=" + n + ";")
	}
	b.WriteString("}})")
	return b.String()
}

// isIdent reports whether s is an ASCII JavaScript identifier; other names
// are refused before they reach source text (composer's conductor fails on
// them with a SyntaxError, and so do we).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (f *Func) wrapperFor(names []string) *wrapper {
	key := strings.Join(names, ",")
	f.mu.Lock()
	w := f.progs[key]
	f.mu.Unlock()
	if w != nil {
		return w
	}
	w = &wrapper{names: append([]string(nil), names...)}
	for _, n := range names {
		if !isIdent(n) {
			w.err = fmt.Errorf("SyntaxError: %q is not a variable name", n)
			break
		}
	}
	if w.err == nil {
		w.prog, w.err = goja.Compile("composer-function", wrapperSource(f.code, names), false)
	}
	f.mu.Lock()
	if len(f.progs) < maxNameSets {
		f.progs[key] = w
	}
	f.mu.Unlock()
	return w
}

// driverSource calls a wrapper and, before any promise job runs, writes the
// variables as JSON into out, stopping at the first JSON cannot represent
// (composer's JSON.parse(JSON.stringify(v)) throws there). It captures
// the intrinsic JSON.stringify so a function cannot replace it.
const driverSource = `(function(stringify){return function(w,p,env,names,out){
try{return w(p,env)}finally{
for(var i=0;i<names.length;i++){var s=stringify(env[names[i]]);
if(s===undefined)throw new SyntaxError('variable '+names[i]+' is not JSON');out[i]=s}}}})(JSON.stringify)`

// driverProg is compiled at its first use, not at package init: every
// proxy links this package, and only a conducting entry runs functions.
var driverProg = sync.OnceValue(func() *goja.Program { return goja.MustCompile("composer-driver", driverSource, false) })

// engine is one goja runtime with the function's wrappers loaded. An
// engine is used by one call at a time.
type engine struct {
	rt        *goja.Runtime
	parse     goja.Callable
	stringify goja.Callable
	driver    goja.Callable
	clean     goja.Callable
	fns       map[*wrapper]goja.Value
	names     map[*wrapper]goja.Value // the names as a JS array
	w         watchdog
	logs      []string // console output of the current call
}

// log is console.log: it keeps the arguments as text, bounded.
func (e *engine) log(c goja.FunctionCall) goja.Value {
	if len(e.logs) >= MaxLogLines {
		return goja.Undefined()
	}
	var b strings.Builder
	for i, a := range c.Arguments {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.String())
		if b.Len() > MaxLogLine {
			break
		}
	}
	line := b.String()
	if len(line) > MaxLogLine {
		line = line[:MaxLogLine]
	}
	e.logs = append(e.logs, line)
	return goja.Undefined()
}

func (f *Func) newEngine() (*engine, error) {
	rt := goja.New()
	rt.SetMaxCallStackSize(f.lim.MaxCallDepth)
	e := &engine{rt: rt, fns: map[*wrapper]goja.Value{}, names: map[*wrapper]goja.Value{}}
	json := rt.Get("JSON").ToObject(rt)
	var ok bool
	if e.parse, ok = goja.AssertFunction(json.Get("parse")); !ok {
		return nil, errors.New("jsfn: JSON.parse is missing")
	}
	if e.stringify, ok = goja.AssertFunction(json.Get("stringify")); !ok {
		return nil, errors.New("jsfn: JSON.stringify is missing")
	}
	d, err := rt.RunProgram(driverProg())
	if err != nil {
		return nil, fmt.Errorf("jsfn: loading the driver: %w", err)
	}
	e.driver, _ = goja.AssertFunction(d)
	console := rt.NewObject()
	for _, m := range []string{"log", "info", "warn", "error", "debug"} {
		if err := console.Set(m, e.log); err != nil {
			return nil, fmt.Errorf("jsfn: setting up console: %w", err)
		}
	}
	// console is not enumerable, so cleanGlobals leaves it.
	if err := rt.GlobalObject().DefineDataProperty("console", console, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, fmt.Errorf("jsfn: setting up console: %w", err)
	}
	c, err := rt.RunProgram(cleanProg())
	if err != nil {
		return nil, fmt.Errorf("jsfn: loading the cleaner: %w", err)
	}
	e.clean, _ = goja.AssertFunction(c)
	if !e.cleanGlobals() {
		return nil, errors.New("jsfn: cannot record the global object's shape")
	}
	e.w.init(rt, &f.lim)
	return e, nil
}

func (f *Func) getEngine() (*engine, error) {
	select {
	case e := <-f.free:
		return e, nil
	default:
		return f.newEngine()
	}
}

func (f *Func) putEngine(e *engine) {
	select {
	case f.free <- e:
	default:
	}
}

// Call runs the function once with params (a JSON object's text) and the
// variables in scope, in composer's order. It returns an error (and no
// Result) only when the input is refused: over a limit (ErrTooLarge) or not
// JSON (ErrBadInput). Everything the function does is in the Result.
func (f *Func) Call(params []byte, vars []Var) (Result, error) {
	if len(params) > f.lim.MaxParams {
		return Result{}, fmt.Errorf("%w: parameters are %d bytes, limit %d", ErrTooLarge, len(params), f.lim.MaxParams)
	}
	scope := 0
	for _, v := range vars {
		scope += len(v.Name) + len(v.JSON)
	}
	if scope > f.lim.MaxScope {
		return Result{}, fmt.Errorf("%w: variables in scope are %d bytes, limit %d", ErrTooLarge, scope, f.lim.MaxScope)
	}
	var names []string
	if len(vars) > 0 {
		names = make([]string, len(vars))
		for i, v := range vars {
			names[i] = v.Name
		}
	}
	w := f.wrapperFor(names)
	if w.err != nil {
		return Result{Kind: KindThrew, Message: w.err.Error()}, nil
	}
	e, err := f.getEngine()
	if err != nil {
		return Result{}, err
	}
	r, keep, err := e.call(f, w, params, vars)
	if keep {
		f.putEngine(e)
	}
	return r, err
}

func (e *engine) fn(w *wrapper) (goja.Value, goja.Value, error) {
	if v, ok := e.fns[w]; ok {
		return v, e.names[w], nil
	}
	v, err := e.rt.RunProgram(w.prog)
	if err != nil {
		return nil, nil, err
	}
	ns := make([]any, len(w.names))
	for i, n := range w.names {
		ns[i] = n
	}
	arr := e.rt.NewArray(ns...)
	e.fns[w], e.names[w] = v, arr
	return v, arr, nil
}

// call runs one call on e; keep says whether e may be reused.
func (e *engine) call(f *Func, w *wrapper, params []byte, vars []Var) (Result, bool, error) {
	fn, names, err := e.fn(w)
	if err != nil {
		return Result{Kind: KindThrew, Message: err.Error()}, true, nil
	}
	p, err := fromJSON(e.rt, params)
	if err != nil {
		return Result{}, true, fmt.Errorf("parameters: %w", err)
	}
	if o, ok := p.(*goja.Object); !ok || o.ClassName() != "Object" {
		return Result{}, true, fmt.Errorf("%w: parameters are not a JSON object", ErrBadInput)
	}
	env := e.rt.NewObject()
	for _, v := range vars {
		x, err := fromJSON(e.rt, v.JSON)
		if err != nil {
			return Result{}, true, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		if err := env.Set(v.Name, x); err != nil {
			return Result{}, true, fmt.Errorf("%w: variable %s: %v", ErrBadInput, v.Name, err)
		}
	}
	out := e.rt.NewArray()

	e.logs = nil
	e.w.start()
	ret, callErr := e.driver(goja.Undefined(), fn, p, env, names, out)
	var pending bool
	if callErr == nil {
		if pr := asPromise(ret); pr != nil {
			switch pr.State() {
			case goja.PromiseStateFulfilled:
				ret = pr.Result()
			case goja.PromiseStateRejected:
				callErr = rejection(pr.Result())
			default:
				pending = true
			}
		}
	}
	stopped := e.w.stop()

	res := Result{Logs: e.logs}
	e.logs = nil
	if n := int(out.Get("length").ToInteger()); n > 0 {
		res.Vars = make([][]byte, 0, n)
		size := 0
		for i := 0; i < n; i++ {
			s := out.Get(fmt.Sprint(i)).String()
			size += len(s)
			res.Vars = append(res.Vars, []byte(s))
		}
		if size > f.lim.MaxScope {
			return Result{Kind: KindInterrupted, Message: fmt.Sprintf("jsfn: variables after the call are %d bytes, limit %d", size, f.lim.MaxScope)}, true, nil
		}
	}
	keep := e.cleanGlobals()
	var ie *goja.InterruptedError
	switch {
	case errors.As(callErr, &ie) || stopped != nil:
		msg := "jsfn: call interrupted"
		if stopped != nil {
			msg = stopped.Error()
		}
		return Result{Kind: KindInterrupted, Message: msg}, false, nil
	case pending:
		return Result{Kind: KindInterrupted, Message: "jsfn: the function's promise never settled"}, keep, nil
	case callErr != nil:
		res.Kind, res.Message = KindThrew, callErr.Error()
		return res, keep, nil
	}
	if _, isFn := goja.AssertFunction(ret); isFn {
		res.Kind = KindFunction
		res.Message = "the function returned a function"
		return res, keep, nil
	}
	if goja.IsUndefined(ret) {
		ret = p
	}
	s, err := e.stringify(goja.Undefined(), ret)
	if err != nil {
		res.Kind, res.Message = KindInternal, exceptionMessage(err)
		return res, keep, nil
	}
	if goja.IsUndefined(s) {
		res.Kind, res.Message = KindInternal, `"undefined" is not valid JSON`
		return res, keep, nil
	}
	text := s.String()
	if len(text) > f.lim.MaxResult {
		return Result{Kind: KindInterrupted, Message: fmt.Sprintf("jsfn: result is %d bytes, limit %d", len(text), f.lim.MaxResult)}, keep, nil
	}
	if text[0] == '{' {
		res.Value = []byte(text)
	} else {
		res.Value = make([]byte, 0, len(text)+10)
		res.Value = append(res.Value, `{"value":`...)
		res.Value = append(res.Value, text...)
		res.Value = append(res.Value, '}')
	}
	return res, keep, nil
}

// asPromise returns v as a promise, or nil.
func asPromise(v goja.Value) *goja.Promise {
	o, ok := v.(*goja.Object)
	if !ok || o.ExportType() != promiseType {
		return nil
	}
	p, _ := o.Export().(*goja.Promise)
	return p
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// rejection turns a promise's rejection reason into an error.
func rejection(v goja.Value) error {
	if v == nil {
		return errors.New("promise rejected")
	}
	return fmt.Errorf("promise rejected: %s", v.String())
}

// exceptionMessage is the message of a JavaScript exception without goja's
// position suffix.
func exceptionMessage(err error) string {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if o, ok := ex.Value().(*goja.Object); ok {
			if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
				return m.String()
			}
		}
		return ex.Value().String()
	}
	return err.Error()
}

// cleanSource returns a function that deletes the enumerable globals a call
// created (sloppy-mode assignments to undeclared names, globalThis.x = ...;
// built-ins are not enumerable, so a clean global object has none) and
// returns whether none is left. Globals defined non-enumerable with
// Object.defineProperty stay, as changes to built-ins do.
const cleanSource = `(function(keys,G){return function(){
var names=keys(G);if(names.length===0)return true;
for(var i=0;i<names.length;i++){try{delete G[names[i]]}catch(e){}}
return keys(G).length===0}})(Object.keys,globalThis)`

var cleanProg = sync.OnceValue(func() *goja.Program { return goja.MustCompile("composer-clean", cleanSource, false) })

// cleanGlobals deletes globals a call created and reports whether the
// engine is clean enough to reuse.
func (e *engine) cleanGlobals() bool {
	ok, err := e.clean(goja.Undefined())
	return err == nil && ok.ToBoolean()
}

// watchdog interrupts a call that runs past its deadline or grows the heap
// past its limit. It owns one timer, re-armed for each call.
type watchdog struct {
	rt  *goja.Runtime
	lim *Limits

	mu       sync.Mutex // guards the fields below
	active   bool
	deadline time.Time
	base     uint64
	reason   error
	t        *time.Timer
	sample   []metrics.Sample
}

func (w *watchdog) init(rt *goja.Runtime, lim *Limits) {
	w.rt, w.lim = rt, lim
	w.sample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	w.t = time.AfterFunc(time.Hour, w.fire)
	w.t.Stop()
}

func (w *watchdog) start() {
	now := time.Now()
	w.mu.Lock()
	w.active, w.deadline, w.base, w.reason = true, now.Add(w.lim.Timeout), 0, nil
	w.mu.Unlock()
	w.t.Reset(min(w.lim.CheckEvery, w.lim.Timeout))
}

// stop ends the call's watch and returns why it interrupted the call, if
// it did.
func (w *watchdog) stop() error {
	w.mu.Lock()
	w.active = false
	reason := w.reason
	w.mu.Unlock()
	w.t.Stop()
	w.rt.ClearInterrupt()
	return reason
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active {
		return
	}
	now := time.Now()
	if !now.Before(w.deadline) {
		w.reason = fmt.Errorf("%w of %v", errTimeout, w.lim.Timeout)
		w.active = false
		w.rt.Interrupt(w.reason)
		return
	}
	metrics.Read(w.sample)
	var heap uint64
	if w.sample[0].Value.Kind() == metrics.KindUint64 {
		heap = w.sample[0].Value.Uint64()
	}
	switch {
	case w.base == 0:
		w.base = heap
	case heap > w.base && heap-w.base > w.lim.MaxHeapGrowth:
		w.reason = fmt.Errorf("%w of %d bytes", errHeap, w.lim.MaxHeapGrowth)
		w.active = false
		w.rt.Interrupt(w.reason)
		return
	}
	w.t.Reset(min(w.lim.CheckEvery, w.deadline.Sub(now)))
}

// AppendString appends s as a JSON string the way JSON.stringify writes
// it: only ", \ and control characters are escaped (not <, > or &, as
// encoding/json does); an invalid UTF-8 byte becomes \ufffd.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}

// Package jsonscan validates JSON without allocating and several times faster
// than encoding/json: it skips the contents of strings eight bytes at a time.
// The action proxy checks every result with it, and the actionloop library
// every input line, so its speed is on every activation's path.
package jsonscan

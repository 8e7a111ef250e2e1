// Package proxy holds the benchmark of the action proxy's /run round trip
// against a raw baseline measured in the same run: the same echo action
// driven directly over its stdin and fd-3 pipes, with no HTTP and no proxy.
//
// Run it with
//
//	go test -run '^$' -bench . -benchmem -count 6 ./benchmarks/proxy/ | tee bench.txt
//	benchstat bench.txt
//
// The results are discussed in docs/benchmarks/proxy.md.
package proxy

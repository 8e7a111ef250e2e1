// Command composer measures openwhisk-composer compositions run by
// wsk-route against the same actions run other ways, end to end through
// an OpenWhisk API (the sandbox of `wsk-route dev` in run.sh): each
// workflow is invoked blocking for its result, the workflows one after the
// other in rounds, so that every one sees the same machine, and it prints
// p50 and p99 per workflow with the load average before and after.
//
//	go run ./benchmarks/composer -wskprops FILE -n 300 NAME...
//
// run.sh deploys the workflows it compares (a conducted composition with a
// JavaScript condition, the same as a wsk-route YAML workflow with the
// condition language, a conducted sequence, a YAML chain and an OpenWhisk
// sequence of the same actions) on a fresh sandbox and runs this command.
package main

#!/usr/bin/env bash
# gotest.sh: run `go test` readably and end with a one-line summary.
#
#   scripts/gotest.sh [go test flags and packages]     default: -count=1 -timeout 40m ./...
#
# Output while it runs: one line per package (ok / FAIL / no test files), as plain `go test`.
# Then the full output of every failed test, the skipped tests with their reasons (one line
# per reason), and two closing lines:
#   go test: P packages ok, F failed, N without tests
#   tests: N passed, N failed, N skipped
# (tests include subtests; "failed" also counts a package that failed outside any test,
# such as a build error, a crash in TestMain or the -timeout panic.)
# The exit status is go test's. Needs jq; without it, runs plain `go test`.
set -uo pipefail

GO="${GO:-go}"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-count=1 -timeout 40m ./...)

if ! command -v jq >/dev/null 2>&1; then
	echo "gotest: jq not found, running plain go test (no summary)" >&2
	exec "$GO" test "${args[@]}"
fi

out_dir="${TMPDIR:-/tmp}"
json="$(mktemp "$out_dir/wsk-route-gotest.XXXXXX.json")"
trap 'rm -f "$json"' EXIT

# Lines that are not JSON (should not happen with -json, but never lose them) are shown as is.
to_event='(fromjson? // {Action: "output", Output: (. + "\n")})'

"$GO" test -json "${args[@]}" | tee "$json" | jq -R --unbuffered -j "$to_event"'
	| select(.Test == null and (.Action == "output" or .Action == "build-output"))
	| select(.Output != "PASS\n" and .Output != "FAIL\n" and .Output != "testing: warning: no tests to run\n")
	| .Output'
status=${PIPESTATUS[0]}

jq -R -s -r '
	[split("\n")[] | select(length > 0) | '"$to_event"'] as $ev
	| ($ev | map(select(.Test != null and .Action == "fail")) | map({Package, Test})) as $failed
	| if ($failed | length) > 0 then
		"\n=== output of failed tests ===",
		($ev[] | select(.Test != null and .Action == "output")
			| select({Package, Test} as $k | $failed | index([$k]) != null) | .Output | rtrimstr("\n"))
	  else empty end,
	""
' "$json"

# The failed tests' own messages once more, last, so that a log tail (CI shows the end of the
# output) holds them even when a test dumped a long service log after failing.
jq -R -s -r '
	[split("\n")[] | select(length > 0) | (fromjson? // empty)] as $ev
	| ($ev | map(select(.Test != null and .Action == "fail")) | map({Package, Test})) as $failed
	| if ($failed | length) > 0 then
		"=== messages of failed tests (file:line lines only) ===",
		($ev[] | select(.Test != null and .Action == "output")
			| select({Package, Test} as $k | $failed | index([$k]) != null)
			| .Output | rtrimstr("\n")
			| select(test("^\\s+[A-Za-z0-9_]+\\.go:[0-9]+: ") or test("^\\s*(--- FAIL|panic:)"))
			| .[0:400]),
		""
	  else empty end
' "$json"

# The skipped tests, grouped by their reason (the first line of the test's own output, its
# t.Skip message, without the file:line), one line per reason, longest group first.
jq -R -s -r '
	[split("\n")[] | select(length > 0) | (fromjson? // empty)] as $ev
	| (reduce ($ev[] | select(.Test != null and .Action == "skip")) as $e ({}; .[$e.Package + " " + $e.Test] = "")) as $skipped
	| if ($skipped | length) == 0 then empty else
		(reduce ($ev[] | select(.Test != null and .Action == "output") | select($skipped[.Package + " " + .Test] != null)) as $e ($skipped;
			($e.Package + " " + $e.Test) as $k
			| if .[$k] == "" and ($e.Output | test("^\\s*(=== |--- )") | not) and ($e.Output | test("\\S"))
			  then .[$k] = ($e.Output | sub("^\\s+"; "") | sub("^[A-Za-z0-9_]+\\.go:[0-9]+: "; "") | rtrimstr("\n") | .[0:200])
			  else . end)) as $why
		| ($why | to_entries
			| map({test: (.key | split(" ") | "\(.[0] | split("/") | last).\(.[1])"),
			       why: (if .value == "" then "(no message)" else .value end)})
			| group_by(.why) | sort_by(-length)) as $groups
		| "=== skipped tests (\($skipped | length)), by reason ===",
		  ($groups[] | map(.test) as $t
			| "  \(.[0].why): \($t[0:6] | join(", "))\(if ($t | length) > 6 then ", and \(($t | length) - 6) more" else "" end)"),
		  ""
	  end
' "$json"

jq -R -s -r '
	[split("\n")[] | select(length > 0) | (fromjson? // empty)] as $ev
	| ($ev | map(select(.Test == null and .Package != null and (.Action == "pass" or .Action == "fail" or .Action == "skip")))) as $pkgs
	| ($ev | map(select(.Test != null))) as $tests
	| ($pkgs | map(select(.Action == "fail")) | map(.Package)) as $failedPkgs
	| ($tests | map(select(.Action == "fail")) | map(.Package) | unique) as $pkgsWithFailedTests
	| "go test: \($pkgs | map(select(.Action == "pass")) | length) packages ok, \($failedPkgs | length) failed, \($pkgs | map(select(.Action == "skip")) | length) without tests",
	  "tests: \($tests | map(select(.Action == "pass")) | length) passed, \(($tests | map(select(.Action == "fail")) | length) + ($failedPkgs - $pkgsWithFailedTests | length)) failed, \($tests | map(select(.Action == "skip")) | length) skipped"
' "$json"

exit "$status"

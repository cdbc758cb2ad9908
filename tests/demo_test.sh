#!/usr/bin/env bash
# The demo tells the truth: run scripts/demo (without its set-up, on the
# programs of this build) and check that it showed what it says it shows:
# the status page's JSON, `dtask watch` lines for the starts and outcomes it
# made, and the dead node's tasks `lost` only once they are.
# Usage: demo_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
out=$(mktemp /tmp/dtask-demo-test-XXXXXX)
trap 'rm -f "$out"' EXIT
if ! DTASK_BIN="$build" timeout 120 "$source/scripts/demo" --no-setup >"$out" 2>&1; then
  cat "$out"
  echo "demo_test: scripts/demo failed" >&2
  exit 1
fi
cat "$out"
expect() {
  grep -q -- "$1" "$out" || { echo "demo_test: the demo did not show: $1" >&2; exit 1; }
}
expect '== the status page: http://127.0.0.1:8101/'
expect '"members":\[{"node":"127.0.0.1:410'
expect '{"seq":[0-9]*,"event":"started",.*"name":"alpha"'
expect '"event":"done",.*"result":\["hello",42\]'
expect '"event":"failed",.*disk full'
expect '== tasks of the dead node are lost, the others still run'
expect '"state":"lost"'

#!/usr/bin/env bash
# dtask as a user gets it: installs this build into a temporary prefix,
# builds examples/ against the installed copy (find_package, nothing of the
# source tree), starts a 3-node cluster of the example node on random free
# ports and runs the example client against it. Every wait is bounded; the
# nodes are killed on exit.
#
#   tests/examples_test.sh BUILD_DIR EXAMPLES_DIR
set -euo pipefail

build=$(cd "$1" && pwd)
examples=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dtask-examples.XXXXXX")
pids=()

cleanup() {
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "examples_test: $1" >&2
  shift
  for f in "$@"; do
    [ -f "$f" ] && { echo "---- $f" >&2; cat "$f" >&2; }
  done
  exit 1
}

# Runs "$@" every 0.1 s until it succeeds; fails after $1 seconds.
wait_for() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# -- the package --------------------------------------------------------------

prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 \
  || fail "cmake --install failed" "$work/install.log"
cmake -S "$examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$work/configure.log" 2>&1 \
  || fail "configuring examples/ against the package failed" "$work/configure.log"
found=$(sed -n 's/^dtask_DIR:PATH=//p' "$work/build/CMakeCache.txt")
[ "$found" = "$prefix/lib/cmake/dtask" ] \
  || fail "find_package(dtask) found $found, not the package in $prefix"
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 \
  || fail "building examples/ against the package failed" "$work/build.log"
if grep -rqs -- "-I$build\|$(dirname "$examples")/include" \
     "$work/build/CMakeFiles"; then
  fail "examples/ was built with the source tree's headers"
fi

# -- a cluster of the example node --------------------------------------------

ports=()

# A port in 20000-32000 (below the ephemeral range, where the other tests'
# ports come from) that nothing listens on and that this cluster does not use.
pick_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12001))
    [[ " ${ports[*]:-} " == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

node_up() {
  grep -q "^dtask-node 127.0.0.1:$2 up" "$work/node$1.log" 2>/dev/null
}

node_up_or_gone() {
  node_up "$1" "$2" || ! kill -0 "${pids[$1]}" 2>/dev/null
}

# Starts 3 nodes; false if one of them could not listen (a port taken since
# it was picked: then the caller tries other ports).
start_cluster() {
  ports=()
  for i in 0 1 2; do
    ports+=("$(pick_port)") || fail "no free port in 20000-32000"
  done
  local seeds="\"127.0.0.1:${ports[0]}\", \"127.0.0.1:${ports[1]}\", \"127.0.0.1:${ports[2]}\""
  for i in 0 1 2; do
    cat >"$work/node$i.ini" <<INI
[cluster]
host="127.0.0.1"
port=${ports[$i]}
seeds=[$seeds]

[middleman]
heartbeat-interval=100ms
connection-timeout=600ms

[scheduler]
policy='sharing'
INI
    "$work/build/example-node" --config-file="$work/node$i.ini" \
      >"$work/node$i.log" 2>&1 &
    pids[$i]=$!
  done
  for i in 0 1 2; do
    wait_for 15 node_up_or_gone "$i" "${ports[$i]}" \
      || fail "node $i not up within 15 s" "$work/node$i.log"
    node_up "$i" "${ports[$i]}" || return 1
  done
}

formed() {
  local out
  out=$("$prefix/bin/dtask" --connect="127.0.0.1:${ports[0]}" \
          --retry-window=500 nodes 2>/dev/null) || return 1
  [ "$(grep -c '"state":"up"' <<<"$out")" -eq 3 ] \
    && [ "$(grep -c '"orchestrator":true' <<<"$out")" -eq 1 ]
}

started=false
for attempt in 1 2 3; do
  if start_cluster; then
    started=true
    break
  fi
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
done
$started || fail "no cluster after 3 attempts" "$work"/node*.log
wait_for 15 formed \
  || fail "the cluster did not form within 15 s" "$work"/node*.log

# -- the example client -------------------------------------------------------

rc=0
timeout 60 "$work/build/example-client" "127.0.0.1:${ports[1]}" \
  >"$work/client.out" 2>&1 || rc=$?
cat "$work/client.out"
[ "$rc" -eq 0 ] \
  || fail "example-client exited with $rc (124: killed after 60 s)" \
       "$work"/node*.log
for line in \
    "callback example-summarize: done (count 3, sum 12, min 3, max 5)" \
    "status example-summarize: done (count 3, sum 12, min 3, max 5)" \
    "callback example-countdown: done" \
    "status example-countdown: done" \
    "callback example-bad-countdown: failed (countdown expects" \
    "status example-bad-countdown: failed (countdown expects" \
    "all as expected"; do
  grep -qF "$line" "$work/client.out" \
    || fail "example-client did not print: $line" "$work"/node*.log
done
echo "examples_test: the installed package builds examples/, and they run"

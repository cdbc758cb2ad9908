#!/usr/bin/env bash
# No function in actors/ is longer than 80 lines (the architecture issue's
# rule): clang-tidy's readability-function-size check, which counts every
# line of a function's body, its lambdas included, whitespace and comments
# too. Usage: function_size_test.sh SOURCE_DIR BUILD_DIR [MAX_LINES]
set -euo pipefail
source=$1
build=$2
max=${3:-80}
config="{CheckOptions: [{key: readability-function-size.LineThreshold, value: $max}]}"
found=0
for file in "$source"/actors/*.cpp; do
  out=$(clang-tidy -p "$build" --quiet -checks='-*,readability-function-size' \
          -config="$config" "$file" 2>/dev/null | grep -A3 'warning:' || true)
  if [ -n "$out" ]; then
    echo "$out"
    found=1
  fi
done
[ "$found" = 0 ] && echo "no function in actors/ is over $max lines"
exit "$found"

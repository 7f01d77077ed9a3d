#!/usr/bin/env bash
# Runs every test: the C unit tests, then each tests/lua/test_*.lua through
# bin/sanity. Prints one summary line per suite and the total
# "N passed, N failed"; exits non-zero if anything failed or crashed.
set -u
bindir=${1:-bin}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SANITY_ROOT="$root" SANITY_BIN="$bindir/sanity"
passed=0 failed=0

count() { # adds the "N passed, M failed" found in $1 (a suite's output)
  local line
  line=$(printf '%s\n' "$1" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then
    echo "CRASH $2: no summary line" >&2
    failed=$((failed + 1))
    return
  fi
  printf '%s\n' "$line"
  passed=$((passed + $(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')))
  failed=$((failed + $(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')))
}

out=$("$bindir/unit" 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^FAIL' || true
count "$out" unit
[ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -qE ' [1-9][0-9]* failed' && { echo "CRASH unit: exit $rc" >&2; failed=$((failed + 1)); }

for f in tests/lua/test_*.lua; do
  out=$("$bindir/sanity" run "$f" --quiet 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^FAIL|^CRASH' || true
  count "$out" "$f"
  if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -qE ' [1-9][0-9]* failed'; then
    printf '%s\n' "$out" | tail -n 20 >&2
    echo "CRASH $f: exit $rc" >&2
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

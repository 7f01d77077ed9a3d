#!/bin/sh
# killrun.sh SIGNAL ROOT COUNT CMD...: runs CMD in the background, waits
# until ROOT holds COUNT completed unit files (*.units/*.h5, anywhere below
# it; at most 20 s), sends SIGNAL to CMD's process only, waits for it and
# prints "status=N" (N = its exit status, 128+signal when killed). With
# DELAY=seconds in the environment it waits that much longer before the
# signal (kills that land anywhere, mid-write included).
sig=$1 root=$2 count=$3
shift 3
"$@" >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(find "$root" -path '*.units/*.h5' 2>/dev/null | wc -l)" -lt "$count" ] && [ $i -lt 400 ]; do
  sleep 0.02
  i=$((i + 1))
done
[ -n "${DELAY:-}" ] && sleep "$DELAY"
kill -s "$sig" "$pid" 2>/dev/null
wait "$pid"
echo "status=$?"

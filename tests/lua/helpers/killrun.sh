#!/bin/sh
# killrun.sh SIGNAL ROOT COUNT CMD...: runs CMD in the background, waits
# until ROOT holds COUNT completed unit files (*.units/*.h5, anywhere below
# it; at most 20 s), sends SIGNAL to CMD's process only, waits for it and
# prints "status=N" (N = its exit status, 128+signal when killed).
sig=$1 root=$2 count=$3
shift 3
"$@" >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(find "$root" -path '*.units/*.h5' 2>/dev/null | wc -l)" -lt "$count" ] && [ $i -lt 400 ]; do
  sleep 0.02
  i=$((i + 1))
done
kill -s "$sig" "$pid"
wait "$pid"
echo "status=$?"

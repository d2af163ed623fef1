#!/usr/bin/env bash
# Figures for docs/performance.md (one-shot answers under a burst): 64
# concurrent JSON answers of the largest allowed size against the release
# server; RSS idle, peak and one second after. WARM=1 serves four answers
# before "idle" is read, so code paged in for the first time is not counted.
# Run from the repo root after a release build.
set -u
out=$(mktemp)
target/release/server --grpc-addr 127.0.0.1:0 --rest-addr 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid; rm -f "$out"' EXIT
until grep -q ready "$out"; do sleep 0.05; done
rest=$(sed -n 's/.*rest=\([^ ]*\).*/\1/p' "$out")
rss() { grep -E "VmRSS|RssAnon|RssFile" /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
[ -n "${WARM:-}" ] && seq 4 | xargs -P 4 -I{} curl -s -o /dev/null "http://$rest/recommendations?user_id={}&max_results=400000"
sleep 1
echo "idle:        $(rss)"
seq 64 | xargs -P 64 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  "http://$rest/recommendations?user_id={}&max_results=400000" | sort | uniq -c
sleep 1
echo "1 s after:   $(rss)"
echo "peak:        $(grep VmHWM /proc/$pid/status)"

#!/usr/bin/env bash
# Load rates of `server load --from` against `server load` (the generated
# catalog) into the same store, in one run, with each load's peak memory.
#
#   bench/ingest/measure.sh ROWS [postgres://…]     (release build first)
#
# Needs python3 with pyarrow (pip install -r server/tests/requirements.txt)
# and GNU time; psql for PostgreSQL. Each load starts from an empty store. Rows are books: one `recommendations` row each.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
postgres=${2:-}
server=./target/release/server
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python="${BOOKSTREAM_PYTHON:-python3}"
"$python" bench/ingest/write_files.py "$work" "$rows" 10
ls -la "$work" >&2

empty() { # STORE: as new, so that every load starts from the same place
  case $1 in
    sqlite:*) rm -f "${1#sqlite:}"* ;;
    *) psql -q "$1" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1 ;;
  esac
}

load() { # STORE LABEL ARGS...: one load into an empty store, its rows/s and peak RSS
  local store=$1 label=$2; shift 2
  empty "$store"
  /usr/bin/time -f "%M" -o "$work/rss" "$server" load --catalog "$store" "$@" >"$work/out" 2>/dev/null
  local rate rss
  rate=$(grep -o '[0-9,]* rows/s' "$work/out" | tr -d ', rows/')
  rss=$(cat "$work/rss")
  printf '| %s | %s | %s | %.1f |\n' "${store%%:*}" "$label" "$rate" "$(echo "$rss / 1024" | bc -l)"
}

echo "| store | load | rows/s | peak MB |"
echo "|---|---|---:|---:|"
per_user=$((rows / 10))
stores=("sqlite:$work/bench.db")
[ -n "$postgres" ] && stores+=("$postgres")
for store in "${stores[@]}"; do
  load "$store" generated --users 0-9 --books "$per_user"
  for file in books.csv books.jsonl books.parquet; do
    load "$store" "$file" --from "$work/$file"
  done
done

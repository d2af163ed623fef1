#!/usr/bin/env bash
# Smoke test of the container image: build it, run a server and a client from it, trigger one run
# of 1000 books through the client's HTTP trigger and check the file it writes.
#
#   deploy/smoke.sh                     # podman (default)
#   CONTAINER=docker deploy/smoke.sh    # docker
#
# Ports on this host: 50051 (gRPC), 8080 (REST) and 3333 (trigger); override with SMOKE_GRPC_PORT,
# SMOKE_REST_PORT, SMOKE_TRIGGER_PORT. SMOKE_SKIP_BUILD=1 reuses an existing `bookstream` image;
# SMOKE_BUILD_ARGS adds build flags (SMOKE_BUILD_ARGS=--no-cache times a cold build).
#
# Where no image registry is reachable, SMOKE_BASE_IMAGES names a script that builds local stand-ins
# for the two base images (rust:1-slim-bookworm, debian:bookworm-slim); it runs when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER=${CONTAINER:-podman}
IMAGE=${IMAGE:-bookstream}
GRPC_PORT=${SMOKE_GRPC_PORT:-50051}
REST_PORT=${SMOKE_REST_PORT:-8080}
TRIGGER_PORT=${SMOKE_TRIGGER_PORT:-3333}
BASE=docker.io/library/debian:bookworm-slim
RUST=docker.io/library/rust:1-slim-bookworm
LOCAL_BASES=${SMOKE_BASE_IMAGES:-}

say() { printf '[smoke] %s\n' "$*"; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; exit 1; }
command -v "$CONTAINER" >/dev/null || fail "$CONTAINER is not installed"
command -v curl >/dev/null || fail "curl is not installed"

if [ "$CONTAINER" = podman ]; then
  # A base-images script may also write podman settings a restricted host needs (runc, cgroupfs).
  if [ -z "${CONTAINERS_CONF:-}" ] && [ -f /etc/containers/containers.conf ]; then
    export CONTAINERS_CONF=/etc/containers/containers.conf
  fi
  if ! podman image exists "$RUST" || ! podman image exists "$BASE"; then
    if [ -n "$LOCAL_BASES" ] && [ -f "$LOCAL_BASES" ]; then
      say "base images missing: making local stand-ins with $LOCAL_BASES"
      bash "$LOCAL_BASES"
      export CONTAINERS_CONF=/etc/containers/containers.conf
    fi
  fi
fi

# A port already taken on the host would make a container fail in a confusing way.
for port in "$GRPC_PORT" "$REST_PORT" "$TRIGGER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is already in use on this host (set SMOKE_*_PORT)"
  fi
done

# --- build -------------------------------------------------------------------------------------
if [ "${SMOKE_SKIP_BUILD:-0}" != 1 ]; then
  say "building $IMAGE with $CONTAINER (cargo build --release inside: minutes on a small machine)"
  started=$(date +%s)
  # SMOKE_BUILD_ARGS: extra build flags, e.g. --no-cache for a cold build.
  # shellcheck disable=SC2086
  "$CONTAINER" build --network host ${SMOKE_BUILD_ARGS:-} -t "$IMAGE" .
  say "build took $(( $(date +%s) - started )) s"
fi

size_of() { "$CONTAINER" image inspect "$1" --format '{{.Size}}'; }
image_bytes=$(size_of "$IMAGE")
base_bytes=$(size_of "$BASE" 2>/dev/null || size_of debian:bookworm-slim)
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
say "image $IMAGE: $(mb "$image_bytes"); debian:bookworm-slim: $(mb "$base_bytes"); added: $(mb $(( image_bytes - base_bytes )))"

# --- run -----------------------------------------------------------------------------------------
run_id=$$
server=bookstream-smoke-server-$run_id
client=bookstream-smoke-client-$run_id
network=""
data=$(mktemp -d "${TMPDIR:-/tmp}/bookstream-smoke.XXXXXX")
# The image runs as uid 10001, which must be able to write the mounted directory.
chmod 0777 "$data"

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for c in "$server" "$client"; do
      echo "----- logs of $c -----" >&2
      "$CONTAINER" logs "$c" 2>&1 | tail -n 40 >&2 || true
    done
  fi
  "$CONTAINER" rm -f "$server" "$client" >/dev/null 2>&1 || true
  [ -z "$network" ] || "$CONTAINER" network rm "$network" >/dev/null 2>&1 || true
  rm -rf "$data"
  exit "$status"
}
trap cleanup EXIT INT TERM

if [ "$CONTAINER" = podman ]; then
  # Host networking: it needs no container network set up (rootful podman on a bare host has none).
  server_net=(--network host)
  client_net=(--network host)
  server_url=http://127.0.0.1:$GRPC_PORT
else
  # A private network: the client reaches the server by its container name.
  network=bookstream-smoke-$run_id
  "$CONTAINER" network create "$network" >/dev/null
  server_net=(--network "$network" -p "127.0.0.1:$GRPC_PORT:50051" -p "127.0.0.1:$REST_PORT:8080")
  client_net=(--network "$network" -p "127.0.0.1:$TRIGGER_PORT:3333")
  server_url=http://$server:50051
fi

say "starting the server ($server)"
server_env=()
if [ "$CONTAINER" = podman ]; then
  server_env=(-e "BOOKSTREAM_GRPC_ADDR=0.0.0.0:$GRPC_PORT" -e "BOOKSTREAM_REST_ADDR=0.0.0.0:$REST_PORT")
fi
"$CONTAINER" run -d --name "$server" "${server_net[@]}" "${server_env[@]}" "$IMAGE" >/dev/null

say "starting the client ($client)"
client_env=()
if [ "$CONTAINER" = podman ]; then
  client_env=(-e "BOOKSTREAM_LISTEN=0.0.0.0:$TRIGGER_PORT")
fi
"$CONTAINER" run -d --name "$client" "${client_net[@]}" "${client_env[@]}" \
  -v "$data:/data:Z" "$IMAGE" \
  client --server "$server_url" --output /data/books.txt >/dev/null

# Poll, at most ~60 s, until both answer /health (the server's is 200 once its catalog serves).
wait_healthy() {
  local name=$1 url=$2 deadline=$((SECONDS + 60))
  until curl -sf -o /dev/null "$url"; do
    [ "$("$CONTAINER" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
      || fail "$name is not running"
    [ "$SECONDS" -lt "$deadline" ] || fail "$url did not answer within 60 s"
    sleep 0.5
  done
  say "$name healthy ($url)"
}
wait_healthy "$server" "http://127.0.0.1:$REST_PORT/health"
wait_healthy "$client" "http://127.0.0.1:$TRIGGER_PORT/health"

# --- trigger and check ---------------------------------------------------------------------------
say "GET /1000"
curl -sf "http://127.0.0.1:$TRIGGER_PORT/1000" || fail "the trigger failed"
echo

file=$data/books.txt
[ -f "$file" ] || fail "$file was not written"
lines=$(wc -l <"$file")
[ "$lines" -eq 1000 ] || fail "$file has $lines lines, expected 1000"
first=$(head -n 1 "$file")
expected="0, The Future-proofed Niches"
[ "$first" = "$expected" ] || fail "first line is '$first', expected '$expected'"
say "books.txt: $lines lines, first: $first"

echo PASS

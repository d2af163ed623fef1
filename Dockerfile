# Bookstream's container image: the three binaries (server, client, loadtest) on a slim Debian.
#
#   podman build --network host -t bookstream .     (or: docker build -t bookstream .)
#   podman run --rm -p 50051:50051 -p 8080:8080 bookstream                     # the server
#   podman run --rm -p 3333:3333 bookstream client --server http://HOST:50051  # the client
#   podman run --rm bookstream loadtest --help                                  # the load harness
#
# There is no ENTRYPOINT: the command names the binary, and CMD defaults to the server.

# --- chef: the Rust toolchain plus cargo-chef, shared by the planner and the builder. ---
FROM rust:1-slim-bookworm AS chef
# cargo-chef splits a build into "dependencies" (cached while the manifests stay the same) and
# "our crates" (rebuilt on every source change). Pinned, and --locked, so the tool itself is reproducible.
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# --- planner: reduces the workspace to recipe.json (manifests, lock file, target list). ---
# This stage reruns on every source change, but its output only changes when a manifest does,
# so the builder's dependency layer below stays cached.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder: dependencies first (one cached layer), then our sources. ---
FROM chef AS builder
# The shipped binaries are built smaller than the repository's release profile, which keeps symbols
# for profiling: stripped, and linked with whole-program (fat) LTO in a single codegen unit, which
# drops unused code across crates. Set before `cook` so both steps share one profile (and one cache).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
COPY --from=planner /src/recipe.json recipe.json
# Builds every third-party crate the three binaries need (SQLite is bundled C, compiled with the
# image's gcc; no system libraries, no protoc) against dummy sources of our crates.
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        --bin server --bin client --bin loadtest
# Our sources: build.rs compiles proto/recommendations.proto with the pure-Rust protox, and the
# server embeds server/src/source/migrations/ at compile time; both come with this copy.
COPY . .
RUN cargo build --release --locked --bin server --bin client --bin loadtest \
 && mkdir -p /out \
 && cp target/release/server target/release/client target/release/loadtest /out/

# --- runtime: Debian slim, CA certificates, the binaries, a non-root user. ---
FROM debian:bookworm-slim AS runtime
# The repository's public URL is not written into this file: a release build passes it, e.g.
# `--build-arg IMAGE_SOURCE=https://github.com/OWNER/bookstream`.
ARG IMAGE_SOURCE=""
LABEL org.opencontainers.image.title="bookstream" \
      org.opencontainers.image.description="Bookstream: a gRPC server-streaming book recommendations server, its HTTP-trigger client and a load harness" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
# ca-certificates only: TLS to a PostgreSQL catalog, an OTLP collector or an https:// server.
# Nothing recommended comes along. The apt lists, the downloaded .debs and apt's binary caches
# (pkgcache.bin and srcpkgcache.bin, ~80 MB on a base without Docker's apt-clean hook) are all
# dropped in the same layer, so none of it ships.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# A fixed, non-root uid (10001) that Kubernetes' runAsUser and runAsNonRoot can check numerically.
# /data is its working directory: the client's output files and run history, a sqlite: catalog.
RUN groupadd --system --gid 10001 bookstream \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bookstream \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=builder /out/server /out/client /out/loadtest /usr/local/bin/
USER 10001
WORKDIR /data
# The binaries listen on 127.0.0.1 by default; in a container they must listen on every interface.
ENV BOOKSTREAM_GRPC_ADDR=0.0.0.0:50051 \
    BOOKSTREAM_REST_ADDR=0.0.0.0:8080 \
    BOOKSTREAM_LISTEN=0.0.0.0:3333
# 50051: the server's gRPC; 8080: its REST twin, /health and /metrics; 3333: the client's trigger.
EXPOSE 50051 8080 3333
CMD ["server"]

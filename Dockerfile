# Switchboard server image.
#
#   docker build -t switchboard .
#   docker run --rm -p 8080:8080 \
#       -e DATABASE_URL=postgres://USER:PASSWORD@DB-HOST:5432/switchboard switchboard
#
# The server creates its database (if the role may) and applies migrations at start. Other
# settings are SWITCHBOARD_* variables (see README.md). Other commands run the same way:
#   docker run --rm -i -e DATABASE_URL=... switchboard operator add --email ann@example.com --name "Ann Lee"

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# Everything .dockerignore lets through: the manifests (bench/ is a workspace member, so it must
# be present), src, migrations (embedded into the binary at compile time) and static.
COPY . .

# Cache mounts keep the crates.io index, downloaded crates and compiled dependencies between
# builds (BuildKit); the binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin switchboard \
    && install -D -m 0755 target/release/switchboard /out/switchboard

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# ca-certificates for TLS to outside services; curl only for the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin switchboard

COPY --from=build /out/switchboard /usr/local/bin/switchboard

ENV SWITCHBOARD_LISTEN=0.0.0.0:8080 \
    SWITCHBOARD_LOG_FORMAT=json \
    RUST_LOG=info

USER switchboard:switchboard
EXPOSE 8080

# /health answers 200 when PostgreSQL and the router are fine, 503 otherwise.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health || exit 1

# SIGTERM (docker stop) triggers the graceful shutdown: sockets are told 1012, snapshots saved.
STOPSIGNAL SIGTERM
ENTRYPOINT ["switchboard"]
CMD ["serve"]

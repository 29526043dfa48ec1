# patron container image: built with the Rust toolchain, run on a distroless base as a non-root user.
#
#   docker build -t ghcr.io/patron/patron:0.1.0 .
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below.
# The image listens on 0.0.0.0, so patron requires API keys (PATRON_API_KEYS or PATRON_API_KEYS_FILE)
# and, with PostgreSQL, a key-encryption key (PATRON_SECRET_KEY or PATRON_SECRET_KEY_FILE):
#
#   docker run --rm -p 50051:50051 -p 8080:8080 \
#     -e DATABASE_URL=postgres://patron@db:5432/patron \
#     -e PATRON_SECRET_KEY_FILE=/run/secrets/patron-secret-key \
#     -e PATRON_API_KEYS="default:<sha256 hex from 'patron keys new --namespace default'>" \
#     ghcr.io/patron/patron:0.1.0
#
# Without DATABASE_URL it uses an embedded SQLite file in /data (the working directory); mount a
# volume there to keep it.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches speed up rebuilds; the binary is copied out of the cached target
# directory in the same step, because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p patron --bin patron \
 && install -D -m 0755 target/release/patron /out/patron \
 && mkdir -p /out/data

# glibc and libgcc_s (all the binary links against), CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/patron /usr/local/bin/patron
COPY --from=builder --chown=10001:10001 /out/data /data
WORKDIR /data
ENV PATRON_GRPC_ADDR=0.0.0.0:50051 \
    PATRON_HTTP_ADDR=0.0.0.0:8080 \
    PATRON_LOG_FORMAT=json
USER 10001:10001
# gRPC (patron.v1, grpc.health.v1, reflection) and HTTP (/healthz, /metrics, Stripe webhooks).
EXPOSE 50051 8080
ENTRYPOINT ["/usr/local/bin/patron"]
CMD ["serve"]

LABEL org.opencontainers.image.title="patron" \
      org.opencontainers.image.description="Customers of a usage-billing platform, connected to Stripe, over gRPC" \
      org.opencontainers.image.licenses="Apache-2.0"

# syntax=docker/dockerfile:1
# The langsmith-proxy image: built from this checkout, run on distroless (no shell, no curl).
#   docker build -t langsmith-proxy .
#   docker run --rm -e LANGSMITH_API_KEY -e LANGSMITH_PROXY_LISTEN=0.0.0.0:7878 \
#     -e LANGSMITH_PROXY_ALLOW_REMOTE=true -p 127.0.0.1:7878:7878 langsmith-proxy
# Settings go in LANGSMITH_PROXY_* variables rather than flags: the HEALTHCHECK sees those too.

# Build: the release binary, with the command that builds it outside a container too. rustls and
# ring, no OpenSSL; linked against glibc, hence the cc runtime below (both Debian 12).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
RUN cargo build --release --locked

# Runtime: glibc, CA certificates and nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/langsmith-proxy /usr/local/bin/langsmith-proxy
# Numeric, so Kubernetes can check runAsNonRoot without an /etc/passwd lookup.
USER 65532:65532
# 7878: apps; 7879: admin (/live, /ready, /metrics, /status). In a pod the containers share
# 127.0.0.1, so the loopback defaults already serve a sidecar's app.
EXPOSE 7878 7879
# The binary asks its own admin /ready: exit 0 when ready, 1 when not.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/langsmith-proxy", "health"]
ENTRYPOINT ["/usr/local/bin/langsmith-proxy"]

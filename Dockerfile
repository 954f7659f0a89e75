# syntax=docker/dockerfile:1
# Build: a static-enough release binary (rustls + ring, no OpenSSL).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
RUN cargo build --release --locked

# Runtime: distroless with glibc, no shell, numeric non-root user (works with runAsNonRoot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/langsmith-proxy /usr/local/bin/langsmith-proxy
USER 65532:65532
# In a pod the containers share 127.0.0.1, so the loopback default already serves the app.
EXPOSE 7878 7879
ENTRYPOINT ["/usr/local/bin/langsmith-proxy"]

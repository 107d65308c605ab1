FROM rust:1.95-bookworm AS build
WORKDIR /src
# libpq and OpenSSL are built from source into the binary (Cargo.toml).
COPY . .
RUN cargo build --release --bin greenlight

FROM debian:bookworm-slim
# curl is for docker-compose's healthcheck (`curl -fsS http://127.0.0.1:8080/readyz`);
# Kubernetes probes over HTTP and does not need it.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/greenlight /usr/local/bin/greenlight
# nobody:nogroup, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65534:65534
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["greenlight"]
CMD ["serve"]

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --bin greenlight

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/greenlight /usr/local/bin/greenlight
USER nobody
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["greenlight"]
CMD ["serve"]

# The three binaries in one small image:
#   docker build -t cdc-pipeline .
# (compose/docker-compose.yml builds it as cdc-pipeline:local.)
# Stage 1 builds with the pinned toolchain; stage 2 is Debian slim with only
# the runtime libraries, running as an unprivileged user.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cdc-source -p ingest-sink -p producer-sim \
 && mkdir /out && cp target/release/cdc-source target/release/ingest-sink target/release/producer-sim /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/cdc --create-home cdc
COPY --from=build /out/ /usr/local/bin/
COPY compose/config/ /etc/cdc/
USER cdc
WORKDIR /var/lib/cdc
# Each service picks its binary: cdc-source / ingest-sink / producer-sim.
ENTRYPOINT []
CMD ["cdc-source", "--config", "/etc/cdc/cdc-source.toml", "run"]

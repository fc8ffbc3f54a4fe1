# The native image: `relay` (outbox → Kafka), `relay migrate` (the schema
# Job) and `relay schedule` (the tick and renewals). Build from the
# repository root:
#   docker build -f deploy/relay.Dockerfile -t <registry>/orderflow-relay:<version> .
FROM rust:1.95-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq cmake >/dev/null
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p relay

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/relay /usr/local/bin/relay
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/relay"]

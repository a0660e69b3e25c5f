# The herd image: a build stage with the Rust toolchain, and a small final stage that holds only
# the binary, the CA certificates its TLS needs, and a user that is not root.
#
#   docker build -t herd .
#   docker run --rm -v "$PWD/scenarios:/work/scenarios:ro" herd run scenarios/ --out /tmp/out
#
# See README.md, "The herd image", for pushing it to ECR.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Everything the manifest names (benches, examples, tests) must exist for cargo to read it;
# .dockerignore keeps build outputs and VCS data out.
COPY . .
RUN cargo build --release --locked --bin herd \
    && strip target/release/herd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /work --create-home herd
COPY --from=build /src/target/release/herd /usr/local/bin/herd
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/herd"]
CMD ["--help"]

# Operator image: a static musl binary on a distroless, non-root base.
# Build: docker build -t mendix-operator .
FROM rust:1.95-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl && apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's other crates: cargo reads every member's manifest; only mendix-client is built.
COPY crates ./crates
# Without the `dev` feature: the operator alone, none of the sandboxes or the benchmark.
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --no-default-features -p mendix-operator --bin mendix-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/mendix-operator /usr/local/bin/mendix-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mendix-operator"]
CMD ["run"]

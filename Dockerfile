# Operator image, for users with Docker: the same layout as image/build.sh assembles without a
# container engine (a static binary in the root filesystem of image/rootfs.sh; user 65532).
#   docker build -t mendix-operator .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's other crates: cargo reads every member's manifest; only mendix-client is built.
COPY crates ./crates
# Without the `dev` feature: the operator alone, none of the sandboxes or the benchmark; in the
# `image` profile, as image/build.sh builds it.
RUN RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image --locked \
      --target x86_64-unknown-linux-gnu --no-default-features -p mendix-operator --bin mendix-operator
# The root filesystem, as image/build.sh makes it.
COPY image ./image
RUN bash image/rootfs.sh /rootfs target/x86_64-unknown-linux-gnu/image/mendix-operator

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mendix-operator"]
CMD ["run"]

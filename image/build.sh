#!/usr/bin/env bash
# Builds the operator image without a container engine, the way daemonless pipelines do:
# a static binary (glibc, statically linked) in the root filesystem image/rootfs.sh makes,
# assembled into an OCI image layout by umoci (built here from its Go module, image/umoci/).
# The Dockerfile runs the same image/rootfs.sh, so it produces the same layout.
#
#   bash image/build.sh            # → target/image/oci:<version>, digest in target/image/digest
#   IMAGE_DIR=/tmp/img bash image/build.sh
#
# Timestamps come from SOURCE_DATE_EPOCH (default: the last commit's time), so a rebuild of the
# same binary gives the same digest.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(realpath -m "${IMAGE_DIR:-target/image}")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${IMAGE_TAG:-$version}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
target=x86_64-unknown-linux-gnu
mkdir -p "$out"

# The operator alone (no `dev` feature), linked statically so the image needs no libc, in the
# `image` profile (Cargo.toml: whole-program optimization, a smaller text to keep in memory).
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --profile image --locked --target "$target" --no-default-features \
  -p mendix-operator --bin mendix-operator
binary=target/$target/image/mendix-operator
if ! ldd "$binary" 2>&1 | grep -qE "statically linked|not a dynamic executable"; then
  echo "$binary is not static" >&2
  exit 1
fi

umoci="$out/umoci"
(cd image/umoci && CGO_ENABLED=0 go build -trimpath -o "$umoci" github.com/opencontainers/umoci/cmd/umoci)

# The root filesystem (image/rootfs.sh, shared with the Dockerfile).
rootfs="$out/rootfs"
bash image/rootfs.sh "$rootfs" "$binary"
owner=()
if [ "$(id -u)" != 0 ]; then
  owner=(--rootless)
fi
find "$rootfs" -exec touch -h -d "@$epoch" {} +

layout="$out/oci"
rm -rf "$layout"
"$umoci" init --layout "$layout"
"$umoci" new --image "$layout:$tag"
"$umoci" insert "${owner[@]}" --image "$layout:$tag" \
  --history.created "$created" --history.created_by "image/build.sh" "$rootfs" /
"$umoci" config --image "$layout:$tag" --created "$created" --history.created "$created" \
  --os linux --architecture amd64 \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/mendix-operator --config.cmd run \
  --config.exposedports 8080/tcp --config.workingdir / \
  --config.env PATH=/usr/local/bin \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.label org.opencontainers.image.title=mendix-operator \
  --config.label "org.opencontainers.image.version=$version"
"$umoci" gc --layout "$layout"

# The manifest's digest: what deploy/ and the chart pin.
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")
echo "$digest" > "$out/digest"
size=$(du -sb "$layout/blobs" | cut -f1)
echo "image $layout:$tag $digest ($size bytes)"

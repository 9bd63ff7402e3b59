#!/usr/bin/env bash
# Assembles the image's root filesystem in DIR from the static operator BINARY: what
# distroless/static gives (users and groups of image/rootfs/, Debian's CA bundle, /tmp) and the
# operator. Files are owned by root (read-only to the operator), except the nonroot user's own
# directories; without root, ownership is left to the image tool (umoci --rootless).
# Used by image/build.sh and by the Dockerfile, so both make the same layout.
#   bash image/rootfs.sh DIR BINARY
set -euo pipefail
rootfs=$1
binary=$2
here=$(dirname "$0")

rm -rf "$rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp" \
  "$rootfs/home/nonroot" "$rootfs/var/lib/mendix-operator/downloads"
cp -r "$here/rootfs/." "$rootfs/"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -m 0755 -s "$binary" "$rootfs/usr/local/bin/mendix-operator"
chmod 1777 "$rootfs/tmp"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/ssl/certs/ca-certificates.crt"
if [ "$(id -u)" = 0 ]; then
  chown -R 0:0 "$rootfs"
  chown 65532:65532 "$rootfs/home/nonroot" "$rootfs/var/lib/mendix-operator/downloads"
fi

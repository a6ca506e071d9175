#!/usr/bin/env bash
# protobuf's own text-format test data and test schemas, for tests/conformance: the source
# of protobuf 3.21.12 as Debian ships it (reachable from every machine here and from CI),
# checked against its SHA-256, unpacked into build/protobuf-testdata/ (nothing is committed).
# Idempotent: a second run only checks the stamp.
#
# One adaptation, so that today's protoc (grpcio-tools) compiles the 3.21 test schema:
# unittest.proto marks a field and an extension `[unverified_lazy=true]`, an option newer
# protoc refuses on extensions ("Extensions cannot be marked as unverified_lazy"). The
# option only changes how the binary format is parsed lazily; it is removed from both lines.
# Exit status: 0 ready, 1 the download failed (the message says why).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/build/protobuf-testdata"
url="http://deb.debian.org/debian/pool/main/p/protobuf/protobuf_3.21.12.orig.tar.gz"
sum="930c2c3b5ecc6c9c12615cf5ad93f1cd6e12d0aba862b572e076259970ac3a53"
stamp="$out/.stamp-$sum"

[ -f "$stamp" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! curl -fsSL --retry 3 --max-time 300 -o "$tmp/src.tar.gz" "$url"; then
  echo "fetch-protobuf-testdata: cannot download $url (Debian's archive must be reachable)" >&2
  exit 1
fi
echo "$sum  $tmp/src.tar.gz" | sha256sum -c --quiet - || { echo "fetch-protobuf-testdata: checksum mismatch for $url" >&2; exit 1; }
tar -xzf "$tmp/src.tar.gz" -C "$tmp" --wildcards \
  'protobuf-3.21.12/src/google/protobuf/*.proto' 'protobuf-3.21.12/src/google/protobuf/testdata/*' \
  'protobuf-3.21.12/LICENSE'
sed -i 's/ \[unverified_lazy=true\]//' "$tmp/protobuf-3.21.12/src/google/protobuf/unittest.proto"
rm -rf "$out"
mkdir -p "$out"
cp -r "$tmp/protobuf-3.21.12/src/google" "$out/"
cp "$tmp/protobuf-3.21.12/LICENSE" "$out/LICENSE.protobuf"
touch "$stamp"

#!/usr/bin/env bash
# fetch-npm.sh PACKAGE@VERSION SHA256 DEST: downloads an npm package tarball with
# `npm pack`, refuses it unless its sha256 matches, and unpacks its files into DEST.
# Idempotent: does nothing when DEST/.sha256 already records the same checksum.
set -euo pipefail
spec=$1 want=$2 dest=$3
if [[ -f $dest/.sha256 && $(cat "$dest/.sha256") == "$want" ]]; then exit 0; fi
command -v npm >/dev/null || { echo "fetch-npm: npm is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$spec" >/dev/null)
tarball=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [[ $got != "$want" ]]; then
  echo "fetch-npm: $spec: sha256 $got, expected $want; refusing it" >&2
  exit 1
fi
mkdir -p "$tmp/unpacked"
tar xzf "$tarball" -C "$tmp/unpacked"
# Unpack beside the destination, then rename, so an interrupted fetch leaves nothing half-made.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mv "$tmp/unpacked/package" "$dest.partial"
echo "$want" >"$dest.partial/.sha256"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch-npm: $spec -> $dest (sha256 ok)"

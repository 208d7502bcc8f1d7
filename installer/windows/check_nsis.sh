#!/usr/bin/env bash
# Check that the Windows installer script compiles (Debian's makensis, package nsis), over a
# payload folder that stands in for the Windows PyInstaller build: to NSIS the payload is just
# files. Compiles twice, with a site configuration (and rclone) built in and without; warnings
# are errors; no compression (the real build uses LZMA, which takes minutes over 100 MB); the
# results are deleted.
#
#   installer/windows/check_nsis.sh PAYLOAD_DIR
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PAYLOAD="$(realpath "${1:?usage: check_nsis.sh PAYLOAD_DIR}")"
command -v makensis >/dev/null || { echo "check_nsis.sh: makensis not found (apt-get install nsis)" >&2; exit 1; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/datauploader/__init__.py")"

for variant in site-config plain; do
  setup="$OUT/DataUploader-$VERSION-$variant-setup.exe"
  args=(-V2 -WX -DNO_COMPRESSION "-DVERSION=$VERSION" "-DPAYLOAD_DIR=$PAYLOAD" "-DOUTFILE=$setup")
  # (the executable stands in for rclone.exe)
  [ "$variant" = site-config ] && args+=("-DSITE_CONFIG=$ROOT/resources/site-config-example.ini"
                                         "-DRCLONE=$PAYLOAD/datauploader")
  makensis "${args[@]}" "$ROOT/installer/windows/datauploader.nsi"
  echo "makensis ($variant): OK, $(du -h "$setup" | cut -f1) uncompressed"
  rm -f "$setup"
done

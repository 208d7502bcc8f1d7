#!/usr/bin/env bash
# Build the Linux bundle and its tarball.
#
#   installer/build_linux.sh [--site-config FILE] [--rclone FILE] [--out DIR]
#
#   --site-config FILE  ship FILE as the bundle's site configuration (app/site.ini: read when
#                       there is no /etc/datauploader/datauploader.ini); install.sh keeps it
#   --rclone FILE       ship this rclone binary beside the executables (app/rclone), where
#                       the rclone storage type finds it (else: rclone_path, or rclone on PATH);
#                       not by default: it adds ~85 MB
#   --out DIR           where the tarball goes (default: dist/)
#
# Gives dist/datauploader-<version>-linux-x86_64.tar.gz:
#   datauploader-<version>-linux-x86_64/
#     app/                  the PyInstaller folder: datauploader (CLI; no argument: the window),
#                           datauploader-gui, _internal/, [site.ini]
#     install.sh            per-user install (~/.local), no root needed
#     uninstall.sh
#     datauploader.desktop  menu entry
#     icons/hicolor/…       the icon in the sizes desktops use
#     README.txt
#
# The build runs in its own virtual environment (build/linux/venv; DATAUPLOADER_BUILD_VENV
# overrides) with `pip install . pyinstaller`; it needs python3 with a shared libpython
# (Debian: python3 and libpython3.X), binutils, and the xcb libraries Qt's X11 plugin links to
# (so that they are bundled: libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
# libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-sync1
# libxkbcommon-x11-0); installer/check_bundle.py fails the build if one is missing.
# The result runs on Linux x86-64 desktops with a glibc at least as new as the build machine's:
# build on the oldest distribution you support.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SITE_CONFIG=""
RCLONE=""
OUT="$ROOT/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --site-config) SITE_CONFIG="$(realpath "$2")"; shift 2 ;;
    --rclone) RCLONE="$(realpath "$2")"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; $d'; exit 0 ;;
    *) echo "build_linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/datauploader/__init__.py")"
ARCH="$(uname -m)"
NAME="datauploader-$VERSION-linux-$ARCH"
WORK="$ROOT/build/linux"
VENV="${DATAUPLOADER_BUILD_VENV:-$WORK/venv}"
PYTHON="${PYTHON:-python3}"
log() { printf '\n== %s\n' "$*" >&2; }

if [ -n "$SITE_CONFIG" ]; then
  [ -f "$SITE_CONFIG" ] || { echo "build_linux.sh: no such file: $SITE_CONFIG" >&2; exit 2; }
fi
if [ -n "$RCLONE" ]; then
  [ -x "$RCLONE" ] || { echo "build_linux.sh: not an executable: $RCLONE" >&2; exit 2; }
fi

log "build environment: $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT" "pyinstaller>=6.10,<7"

log "PyInstaller"
rm -rf "$WORK/dist"
(cd "$ROOT" && "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/pyinstaller" installer/datauploader.spec)
BUNDLE="$WORK/dist/datauploader"
python3 "$ROOT/installer/check_bundle.py" "$BUNDLE"

if [ -n "$SITE_CONFIG" ]; then
  log "site configuration: $SITE_CONFIG"
  DATAUPLOADER_HOME="$WORK/check-home" DATAUPLOADER_SYSTEM_CONFIG="$SITE_CONFIG" \
    "$BUNDLE/datauploader" config show >/dev/null  # parse errors name file, section, key
  rm -rf "$WORK/check-home"
  install -m 644 "$SITE_CONFIG" "$BUNDLE/site.ini"
fi

if [ -n "$RCLONE" ]; then
  log "rclone: $RCLONE ($("$RCLONE" version 2>/dev/null | head -1))"
  install -m 755 "$RCLONE" "$BUNDLE/rclone"
fi

log "tarball"
STAGE="$WORK/stage/$NAME"
rm -rf "$WORK/stage"
mkdir -p "$STAGE"
cp -a "$BUNDLE" "$STAGE/app"
install -m 755 "$ROOT/installer/linux/install.sh" "$ROOT/installer/linux/uninstall.sh" "$STAGE/"
install -m 644 "$ROOT/installer/linux/datauploader.desktop" "$STAGE/"
sed "s/@VERSION@/$VERSION/g" "$ROOT/installer/linux/README.txt" > "$STAGE/README.txt"
for png in "$ROOT"/resources/icons/datauploader-*.png; do
  size="$(basename "$png" .png)"; size="${size#datauploader-}"
  install -D -m 644 "$png" "$STAGE/icons/hicolor/${size}x${size}/apps/datauploader.png"
done
install -D -m 644 "$ROOT/datauploader/gui/icons/datauploader.svg" \
  "$STAGE/icons/hicolor/scalable/apps/datauploader.svg"
TARBALL="$OUT/$NAME.tar.gz"
tar -C "$WORK/stage" --owner=0 --group=0 -czf "$TARBALL" "$NAME"
echo "$TARBALL"

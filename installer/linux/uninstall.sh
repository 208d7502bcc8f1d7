#!/bin/sh
# DataUploader: remove the per-user installation made by install.sh.
#
#   ~/.local/opt/datauploader/uninstall.sh [--prefix DIR]     (default ~/.local)
#
# Removes the program, its two commands in ~/.local/bin, the menu entry and the icons.
# Leaves alone everything that is yours: settings, the journal of your uploads, logs, the
# local profile's storage and catalogue, and secrets in the OS keyring.
set -eu

PREFIX="${HOME:?}/.local"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "uninstall.sh: --prefix needs a folder" >&2; exit 2; }
              PREFIX="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; $d'; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT="$PREFIX/opt/datauploader"
BIN="$PREFIX/bin"
SHARE="$PREFIX/share"
if [ ! -x "$OPT/datauploader" ]; then
  echo "uninstall.sh: DataUploader is not installed in $OPT" >&2
  exit 1
fi

# The commands, only where they are still ours.
for cmd in datauploader datauploader-gui; do
  if [ -L "$BIN/$cmd" ] && [ "$(readlink "$BIN/$cmd")" = "$OPT/$cmd" ]; then
    rm -f "$BIN/$cmd"
  fi
done
rm -f "$SHARE/applications/datauploader.desktop"
for icon in "$SHARE"/icons/hicolor/*/apps/datauploader.png \
            "$SHARE"/icons/hicolor/scalable/apps/datauploader.svg; do
  [ -f "$icon" ] && rm -f "$icon"
done
command -v update-desktop-database >/dev/null 2>&1 && \
  update-desktop-database -q "$SHARE/applications" 2>/dev/null || true
rm -rf "$OPT"

echo "DataUploader was removed from $OPT."
echo "Your settings, upload journal, logs and local data were kept:"
echo "  ${XDG_CONFIG_HOME:-$HOME/.config}/datauploader/   settings"
echo "  ${XDG_STATE_HOME:-$HOME/.local/state}/datauploader/   journal and logs"
echo "  ${XDG_DATA_HOME:-$HOME/.local/share}/datauploader/   the local profile's storage and catalogue"
echo "Delete them yourself if you no longer need them (the journal is the record of your uploads)."

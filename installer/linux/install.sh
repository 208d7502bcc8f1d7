#!/bin/sh
# DataUploader: install for the current user (no root needed).
#
#   ./install.sh [--site-config FILE] [--prefix DIR]
#
#   --site-config FILE  install FILE as this installation's site configuration (profiles,
#                       catalogue, storage, locked settings): <prefix>/opt/datauploader/site.ini.
#                       Without it, a site.ini shipped in the tarball is installed, else the one
#                       already installed is kept.
#   --prefix DIR        default ~/.local
#
# Installs:
#   ~/.local/opt/datauploader/           the program (datauploader, datauploader-gui, _internal/)
#   ~/.local/bin/datauploader            the command line (no argument: the window)
#   ~/.local/bin/datauploader-gui        the window
#   ~/.local/share/applications/datauploader.desktop, ~/.local/share/icons/hicolor/…
#
# A machine-wide site configuration, /etc/datauploader/datauploader.ini, needs root; when it
# exists it is used instead of site.ini (see docs/deployment.md). Run it again to update;
# ~/.local/opt/datauploader/uninstall.sh removes the program (never your data or journal).
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${HOME:?}/.local"
SITE_CONFIG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --site-config) [ $# -ge 2 ] || { echo "install.sh: --site-config needs a file" >&2; exit 2; }
                   SITE_CONFIG="$2"; shift 2 ;;
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
              PREFIX="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; $d'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ]; then
  echo "install.sh: this installs for one user, without sudo: run it as that user." >&2
  exit 2
fi
[ -x "$HERE/app/datauploader" ] || { echo "install.sh: $HERE/app/datauploader is missing" >&2; exit 1; }
if [ -n "$SITE_CONFIG" ]; then
  [ -f "$SITE_CONFIG" ] || { echo "install.sh: no such file: $SITE_CONFIG" >&2; exit 2; }
  # Refuse a file the program cannot read (the message names the file, section and key).
  if ! DATAUPLOADER_SYSTEM_CONFIG="$SITE_CONFIG" "$HERE/app/datauploader" config show >/dev/null; then
    echo "install.sh: $SITE_CONFIG is not a valid configuration; nothing was installed." >&2
    exit 2
  fi
fi

OPT="$PREFIX/opt/datauploader"
BIN="$PREFIX/bin"
SHARE="$PREFIX/share"
mkdir -p "$PREFIX/opt" "$BIN" "$SHARE/applications"

# Copy beside the old installation, then swap, so that a failed copy leaves it intact.
rm -rf "$OPT.new" "$OPT.old"
cp -R "$HERE/app" "$OPT.new"
cp "$HERE/uninstall.sh" "$OPT.new/uninstall.sh"
if [ -n "$SITE_CONFIG" ]; then
  cp "$SITE_CONFIG" "$OPT.new/site.ini"
elif [ ! -f "$OPT.new/site.ini" ] && [ -f "$OPT/site.ini" ]; then
  cp -p "$OPT/site.ini" "$OPT.new/site.ini"  # an update keeps the site configuration
fi
[ -f "$OPT.new/site.ini" ] && chmod 644 "$OPT.new/site.ini"
[ -d "$OPT" ] && mv "$OPT" "$OPT.old"
mv "$OPT.new" "$OPT"
rm -rf "$OPT.old"

ln -sfn "$OPT/datauploader" "$BIN/datauploader"
ln -sfn "$OPT/datauploader-gui" "$BIN/datauploader-gui"

# The menu entry runs the program by its full path: ~/.local/bin is not always on the
# desktop session's PATH.
sed "s|^Exec=.*|Exec=\"$OPT/datauploader-gui\"|; s|^TryExec=.*|TryExec=$OPT/datauploader-gui|" \
  "$HERE/datauploader.desktop" > "$SHARE/applications/datauploader.desktop"
chmod 644 "$SHARE/applications/datauploader.desktop"
(cd "$HERE/icons" && find . -type f) | while read -r icon; do
  mkdir -p "$(dirname "$SHARE/icons/$icon")"
  cp "$HERE/icons/$icon" "$SHARE/icons/$icon"
done
command -v update-desktop-database >/dev/null 2>&1 && \
  update-desktop-database -q "$SHARE/applications" 2>/dev/null || true

VERSION="$("$OPT/datauploader" --version 2>/dev/null || echo DataUploader)"
echo "$VERSION installed in $OPT"
echo "  menu: DataUploader; command line: $BIN/datauploader"
[ -f "$OPT/site.ini" ] && echo "  site configuration: $OPT/site.ini"
[ -f /etc/datauploader/datauploader.ini ] && \
  echo "  (the machine-wide /etc/datauploader/datauploader.ini is used instead of site.ini)"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) echo "  note: $BIN is not on your PATH; add it to use 'datauploader' in a terminal" ;;
esac
echo "  uninstall: $OPT/uninstall.sh"

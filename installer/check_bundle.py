"""Check a built Linux bundle (the PyInstaller folder): nothing missing, nothing it should not
carry, and how big it is.

    python3 installer/check_bundle.py dist/datauploader

Fails (exit 1) when a shared library in the bundle needs one that is found neither in the
bundle nor on this system (``ldd``, with the loader path the frozen program runs with), when a
file the program needs at run time is missing, or when a Qt module we exclude came back.
Warns about libraries nothing in the bundle needs. Prints the size (disk usage, as ``du``).
Standard library only; needs ``ldd`` and ``readelf`` (binutils).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

REQUIRED = [
    "datauploader",
    "datauploader-gui",
    "_internal/datauploader/gui/icons/datauploader.svg",
    "_internal/PyQt5/Qt5/plugins/platforms/libqxcb.so",
    "_internal/PyQt5/Qt5/plugins/platforms/libqwayland-generic.so",
    "_internal/PyQt5/Qt5/plugins/platforms/libqoffscreen.so",
    "_internal/PyQt5/Qt5/plugins/iconengines/libqsvgicon.so",
    "_internal/PyQt5/Qt5/plugins/imageformats/libqsvg.so",
    "_internal/PyQt5/Qt5/translations/qtbase_de.qm",
    "_internal/keyring-*.dist-info/entry_points.txt",
    "_internal/certifi/cacert.pem",
    "_internal/botocore/data/endpoints.json",
    "_internal/botocore/data/sts/*/service-2.json*",
]
FORBIDDEN = re.compile(r"libQt5(Network|Qml|Quick|WebEngine|WebSockets|Multimedia|Sql|Bluetooth"
                       r"|Designer|3D)|libstdc\+\+|libfontconfig|libfreetype|libglib-2\.0")
# Loaded by the bootloader (libpython) or by Qt with dlopen, not through DT_NEEDED.
DLOPENED = re.compile(r"^libpython3|^libQt5XcbQpa|^libQt5WaylandClient|^libQt5Svg|^libQt5DBus"
                      r"|^libxkbcommon|^libwayland-|^libxcb-")


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def needed(path: str) -> list[str]:
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.+?)\]", out)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root = os.path.abspath(argv[1])
    internal = os.path.join(root, "_internal")
    problems: list[str] = []

    for pattern in REQUIRED:
        if not glob.glob(os.path.join(root, pattern)):
            problems.append(f"missing: {pattern}")

    elves, size = [], 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            size += st.st_blocks * 512
            if os.path.islink(path):
                if not os.path.exists(path):
                    problems.append(f"dangling link: {os.path.relpath(path, root)}")
                continue
            rel = os.path.relpath(path, root)
            if FORBIDDEN.search(name):
                problems.append(f"should not be bundled: {rel}")
            if is_elf(path):
                elves.append(path)

    env = dict(os.environ, LD_LIBRARY_PATH=internal)  # as the bootloader sets it
    all_needed: set[str] = set()
    for path in elves:
        all_needed.update(needed(path))
        out = subprocess.run(["ldd", path], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "not found" in line:
                problems.append(f"{os.path.relpath(path, root)} needs {line.split()[0]}, which "
                                "is neither in the bundle nor on this system")
    for path in elves:
        name = os.path.basename(path)
        rel = os.path.relpath(path, root)
        top_level_library = os.path.dirname(path) == internal or "/Qt5/lib/" in path
        if (top_level_library and ".cpython-" not in name and not name.endswith(".abi3.so")
                and name not in all_needed and not DLOPENED.search(name)):
            print(f"warning: nothing in the bundle needs {rel}", file=sys.stderr)

    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    print(f"bundle: {root}: {size / 1e6:.1f} MB on disk ({size / 2**20:.1f} MiB), "
          f"{len(elves)} shared objects" + (f", {len(problems)} problems" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

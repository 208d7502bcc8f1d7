"""Render the application icon (datauploader/gui/icons/datauploader.svg) for the installers.

    python installer/render_icons.py          # writes resources/, commit the result

resources/icons/datauploader-<N>.png   the hicolor sizes for Linux desktops (.desktop, AppImage)
resources/datauploader.ico             Windows: executables, installer, shortcuts (16-256 px;
                                       BMP entries up to 64 px, PNG for 128 and 256, as Windows
                                       Vista and later expect)

Uses PyQt5's QSvgRenderer (offscreen, no display needed); run it again whenever the SVG changes.
"""

from __future__ import annotations

import os
import struct
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt5.QtCore import QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PyQt5.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PyQt5.QtSvg import QSvgRenderer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SVG = os.path.join(ROOT, "datauploader", "gui", "icons", "datauploader.svg")
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)
ICO_PNG_FROM = 128  # entries this large and larger are stored as PNG inside the .ico


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    if not image.save(buf, "PNG"):
        raise RuntimeError("PNG encoding failed")
    buf.close()
    return bytes(data)


def dib_bytes(image: QImage) -> bytes:
    """A 32-bit BGRA device-independent bitmap as an .ico entry: BITMAPINFOHEADER with twice
    the height (XOR image + AND mask), rows bottom-up, then an all-zero AND mask (the alpha
    channel carries the transparency)."""
    size = image.width()
    img = image.convertToFormat(QImage.Format_ARGB32)  # little-endian: B, G, R, A in memory
    rows = []
    for y in range(size - 1, -1, -1):
        ptr = img.constScanLine(y)
        ptr.setsize(size * 4)
        rows.append(bytes(ptr))
    mask_row = ((size + 31) // 32) * 4
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0,
                         size * size * 4 + mask_row * size, 0, 0, 0, 0)
    return header + b"".join(rows) + b"\0" * (mask_row * size)


def write_ico(path: str, images: list[QImage]) -> None:
    entries = [png_bytes(i) if i.width() >= ICO_PNG_FROM else dib_bytes(i) for i in images]
    out = [struct.pack("<HHH", 0, 1, len(images))]
    offset = 6 + 16 * len(images)
    for image, data in zip(images, entries):
        w = image.width()
        out.append(struct.pack("<BBBBHHII", w % 256, w % 256, 0, 0, 1, 32, len(data), offset))
        offset += len(data)
    with open(path, "wb") as f:
        f.write(b"".join(out) + b"".join(entries))


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(SVG)
    if not renderer.isValid():
        print(f"error: {SVG} is not a valid SVG", file=sys.stderr)
        return 1
    icons = os.path.join(ROOT, "resources", "icons")
    os.makedirs(icons, exist_ok=True)
    for size in PNG_SIZES:
        path = os.path.join(icons, f"datauploader-{size}.png")
        with open(path, "wb") as f:
            f.write(png_bytes(render(renderer, size)))
        print(path)
    ico = os.path.join(ROOT, "resources", "datauploader.ico")
    write_ico(ico, [render(renderer, s) for s in ICO_SIZES])
    print(ico)
    return 0


if __name__ == "__main__":
    sys.exit(main())
